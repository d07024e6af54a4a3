{{/*
A Deployment for one workload of a Flotilla server.
Takes (dict "context" $ "component" "server" "workload" $values), where `workload` defaults to
.Values; a second workload (the notifications worker) passes .Values merged with its overrides.
Only the `server` component listens on the MCP port; every component serves the admin port.
*/}}
{{- define "flotilla-common.deployment" -}}
{{- $ctx := .context -}}
{{- $w := .workload | default $ctx.Values -}}
{{- $component := .component | default "server" -}}
{{- $names := dict "context" $ctx "component" $component -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "flotilla-common.names.component" $names }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels: {{- include "flotilla-common.labels.standard" $names | nindent 4 }}
spec:
  {{- /* An HPA, or KEDA's, owns the count otherwise: a fixed one would reset it on every upgrade. */}}
  {{- if not (or $w.autoscaling.enabled $w.keda.enabled) }}
  replicas: {{ $w.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate:
      # A rollout adds new pods before it removes old ones: capacity never drops below the desired count.
      maxUnavailable: 0
      maxSurge: {{ $w.maxSurge }}
  selector:
    matchLabels: {{- include "flotilla-common.labels.matchLabels" $names | nindent 6 }}
  template:
    metadata:
      labels: {{- include "flotilla-common.labels.standard" $names | nindent 8 }}
        {{- with $w.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/config: {{ include "flotilla-common.configmap" (dict "context" $ctx) | sha256sum }}
        {{- with $w.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "flotilla-common.names.serviceAccount" $ctx }}
      # The servers never call the Kubernetes API; a mounted token would only be something to steal.
      automountServiceAccountToken: false
      # Service links would add <SERVICE>_PORT style variables the servers do not read.
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ include "flotilla-common.terminationGracePeriod" $ctx }}
      securityContext: {{- include "flotilla-common.security.pod" $w.securityContext | nindent 8 }}
      {{- include "flotilla-common.images.pullSecrets" $ctx | nindent 6 }}
      {{- with $w.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      {{- if $w.topologySpread.enabled }}
      topologySpreadConstraints:
        {{- range $key := list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
        - topologyKey: {{ $key }}
          maxSkew: {{ $w.topologySpread.maxSkew }}
          whenUnsatisfiable: {{ $w.topologySpread.whenUnsatisfiable }}
          labelSelector:
            matchLabels: {{- include "flotilla-common.labels.matchLabels" $names | nindent 14 }}
          # Spread each ReplicaSet on its own, so a rollout's new pods are spread too.
          matchLabelKeys: ["pod-template-hash"]
        {{- end }}
      {{- end }}
      {{- with $w.nodeSelector }}
      nodeSelector: {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $w.tolerations }}
      tolerations: {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $w.affinity }}
      affinity: {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ $component }}
          image: {{ include "flotilla-common.images.image" (dict "image" $w.image "context" $ctx) }}
          imagePullPolicy: {{ $w.image.pullPolicy }}
          {{- with $w.args }}
          args: {{- toYaml . | nindent 12 }}
          {{- end }}
          ports:
            {{- if eq $component "server" }}
            - name: mcp
              containerPort: {{ $ctx.Values.containerPorts.mcp }}
              protocol: TCP
            {{- end }}
            - name: admin
              containerPort: {{ $ctx.Values.containerPorts.admin }}
              protocol: TCP
          envFrom:
            - configMapRef:
                name: {{ include "flotilla-common.names.fullname" $ctx }}
          {{- $secretEnv := include "flotilla-common.config.secretEnv" $ctx }}
          {{- if trim $secretEnv }}
          env: {{- $secretEnv | nindent 12 }}
          {{- end }}
          {{- include "flotilla-common.probes" $w.probes | nindent 10 }}
          resources: {{- toYaml $w.resources | nindent 12 }}
          securityContext: {{- include "flotilla-common.security.container" $w.securityContext | nindent 12 }}
          volumeMounts: {{- include "flotilla-common.config.volumeMounts" $ctx | nindent 12 }}
      volumes: {{- include "flotilla-common.config.volumes" $ctx | nindent 8 }}
{{- end -}}
