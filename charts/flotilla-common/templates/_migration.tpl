{{/*
Schema migrations and role bootstrap run as a Helm pre-install/pre-upgrade hook Job with the
migration credential (migration.existingSecret), which no runtime pod ever references: the servers
keep only their own least-privilege role. A failed Job fails the install or upgrade before any
runtime pod changes, and stays for `kubectl logs`; a successful one is deleted.
Takes (dict "context" $ "image" <image values> "command" (list) "args" (list) "env" "<yaml>"
"volumes" "<yaml>" "volumeMounts" "<yaml>").
*/}}
{{- define "flotilla-common.migrationJob" -}}
{{- $ctx := .context -}}
{{- $m := $ctx.Values.migration -}}
{{- $names := dict "context" $ctx "component" "migrate" -}}
{{- if $m.enabled -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "flotilla-common.names.component" $names }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels: {{- include "flotilla-common.labels.standard" $names | nindent 4 }}
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "0"
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  backoffLimit: {{ $m.backoffLimit }}
  activeDeadlineSeconds: {{ $m.activeDeadlineSeconds }}
  template:
    metadata:
      labels: {{- include "flotilla-common.labels.standard" $names | nindent 8 }}
    spec:
      restartPolicy: Never
      automountServiceAccountToken: false
      enableServiceLinks: false
      securityContext: {{- include "flotilla-common.security.pod" $m.securityContext | nindent 8 }}
      {{- include "flotilla-common.images.pullSecrets" $ctx | nindent 6 }}
      containers:
        - name: migrate
          image: {{ include "flotilla-common.images.image" (dict "image" .image "context" $ctx) }}
          imagePullPolicy: {{ .image.pullPolicy }}
          {{- with .command }}
          command: {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with .args }}
          args: {{- toYaml . | nindent 12 }}
          {{- end }}
          env:
            - name: HOME
              value: /tmp
            {{- with .env }}
            {{- . | nindent 12 }}
            {{- end }}
          resources: {{- toYaml $m.resources | nindent 12 }}
          securityContext: {{- include "flotilla-common.security.container" $m.securityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- with .volumeMounts }}
            {{- . | nindent 12 }}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
        {{- with .volumes }}
        {{- . | nindent 8 }}
        {{- end }}
{{- end -}}
{{- end -}}

{{/* The migration credential as an env var, from migration.existingSecret. Takes (dict "context" $ "name" "ENV_NAME"). */}}
{{- define "flotilla-common.migration.urlEnv" -}}
{{- $m := .context.Values.migration -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "flotilla-common.names.secret" (dict "context" .context "purpose" "migration" "existingSecret" $m.existingSecret) }}
      key: {{ $m.urlKey }}
{{- end -}}
