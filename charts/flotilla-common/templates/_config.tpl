{{/*
Configuration. Plain settings go to a ConfigMap (its checksum rolls the pods when it changes);
credentials never do: connection strings come from existing Secrets through secretKeyRef, and
credential files (API keys, JWKS, notification channels) are Secret volumes the server reads by
path. A `config` key that names a credential is refused, so a values file cannot leak one into a
ConfigMap by accident.
*/}}

{{- define "flotilla-common.config.forbiddenKeyPattern" -}}
^(DATABASE_URL|DATABASE_MIGRATION_URL|REDIS_URL|PG[A-Z_]*|.*(PASSWORD|SECRET|TOKEN|CREDENTIAL|HEADERS).*)$
{{- end -}}

{{- define "flotilla-common.config.publicUrl" -}}
{{- printf "https://%s/mcp" .Values.publicHost -}}
{{- end -}}

{{/* Hosts the server accepts in the Host header: its public host and its in-cluster Service names. */}}
{{- define "flotilla-common.config.allowedHosts" -}}
{{- $fullname := include "flotilla-common.names.fullname" . -}}
{{- $ns := .Release.Namespace -}}
{{- $hosts := list .Values.publicHost $fullname (printf "%s.%s" $fullname $ns) (printf "%s.%s.svc" $fullname $ns) (printf "%s.%s.svc.cluster.local" $fullname $ns) -}}
{{- join "," $hosts -}}
{{- end -}}

{{- define "flotilla-common.config.data" -}}
{{- $values := .Values -}}
{{- $auth := $values.auth -}}
{{- $data := dict
  "PORT" $values.containerPorts.mcp
  "ADMIN_PORT" $values.containerPorts.admin
  "HOST" "0.0.0.0"
  "PUBLIC_URL" (include "flotilla-common.config.publicUrl" .)
  "ALLOWED_HOSTS" (include "flotilla-common.config.allowedHosts" .)
  "AUTH_MODE" $auth.mode
  "AUTH_TENANT_CLAIM" $auth.tenantClaim
-}}
{{- if contains "api-key" $auth.mode -}}
{{- $_ := set $data "AUTH_API_KEYS_FILE" (printf "/etc/flotilla/auth/%s" $auth.apiKeysKey) -}}
{{- end -}}
{{- if contains "oauth" $auth.mode -}}
{{- if not $auth.issuer -}}{{- fail "auth.issuer is required when auth.mode includes oauth" -}}{{- end -}}
{{- if not (or $auth.jwksUrl $auth.jwksKey) -}}{{- fail "auth.jwksUrl or auth.jwksKey is required when auth.mode includes oauth" -}}{{- end -}}
{{- if not $auth.servers -}}{{- fail "auth.servers is required when auth.mode includes oauth" -}}{{- end -}}
{{- $_ := set $data "AUTH_ISSUER" $auth.issuer -}}
{{- $_ := set $data "AUTH_SERVERS" (join "," $auth.servers) -}}
{{- with $auth.jwksUrl }}{{ $_ := set $data "AUTH_JWKS_URL" . }}{{ end -}}
{{- with $auth.jwksKey }}{{ $_ := set $data "AUTH_JWKS_FILE" (printf "/etc/flotilla/auth/%s" .) }}{{ end -}}
{{- end -}}
{{- if and $values.persistence $values.persistence.enabled -}}
{{- $_ := set $data $values.persistence.env $values.persistence.mountPath -}}
{{- end -}}
{{- range $values.secretFiles -}}
{{- $_ := set $data .env (printf "%s/%s" .mountPath .key) -}}
{{- end -}}
{{- $forbidden := include "flotilla-common.config.forbiddenKeyPattern" . -}}
{{- range $key, $value := $values.config -}}
{{- if regexMatch $forbidden $key -}}
{{- fail (printf "config.%s looks like a credential: put it in a Secret and reference it (existingSecret), never in config" $key) -}}
{{- end -}}
{{- if kindIs "slice" $value -}}
{{- $_ := set $data $key (join "," $value) -}}
{{- else if and (kindIs "float64" $value) (eq (floor $value) $value) -}}
{{- /* YAML numbers arrive as floats; without this 10485760 would render as 1.048576e+07. */ -}}
{{- $_ := set $data $key (int64 $value) -}}
{{- else if not (kindIs "invalid" $value) -}}
{{- $_ := set $data $key $value -}}
{{- end -}}
{{- end -}}
{{- range $key := keys $data | sortAlpha }}
{{ $key }}: {{ index $data $key | toString | quote }}
{{- end -}}
{{- end -}}

{{/* Takes (dict "context" $). */}}
{{- define "flotilla-common.configmap" -}}
{{- $ctx := .context -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "flotilla-common.names.fullname" $ctx }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels: {{- include "flotilla-common.labels.standard" (dict "context" $ctx) | nindent 4 }}
data: {{- include "flotilla-common.config.data" $ctx | nindent 2 }}
{{- end -}}

{{/* Environment variables read from existing Secrets. Takes the root context. */}}
{{- define "flotilla-common.config.secretEnv" -}}
{{- $values := .Values -}}
{{- if and $values.database $values.database.enabled }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "flotilla-common.names.secret" (dict "context" . "purpose" "database" "existingSecret" $values.database.existingSecret) }}
      key: {{ $values.database.urlKey }}
{{- end }}
{{- if $values.redis.enabled }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "flotilla-common.names.secret" (dict "context" . "purpose" "redis" "existingSecret" $values.redis.existingSecret) }}
      key: {{ $values.redis.urlKey }}
{{- end }}
{{- with $values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Volumes: /tmp, the credential files, and the data volume where the chart has one. */}}
{{- define "flotilla-common.config.volumes" -}}
{{- $values := .Values -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ $values.tmpVolume.sizeLimit }}
{{- if or (contains "api-key" $values.auth.mode) $values.auth.jwksKey }}
- name: auth
  secret:
    secretName: {{ include "flotilla-common.names.secret" (dict "context" . "purpose" "auth" "existingSecret" $values.auth.existingSecret) }}
    defaultMode: 0440
    items:
      {{- if contains "api-key" $values.auth.mode }}
      - key: {{ $values.auth.apiKeysKey }}
        path: {{ $values.auth.apiKeysKey }}
      {{- end }}
      {{- with $values.auth.jwksKey }}
      - key: {{ . }}
        path: {{ . }}
      {{- end }}
{{- end }}
{{- range $values.secretFiles }}
- name: {{ .name }}
  secret:
    secretName: {{ include "flotilla-common.names.secret" (dict "context" $ "purpose" .name "existingSecret" .existingSecret) }}
    defaultMode: 0440
    items:
      - key: {{ .key }}
        path: {{ .key }}
{{- end }}
{{- if and $values.persistence $values.persistence.enabled }}
- name: data
  persistentVolumeClaim:
    claimName: {{ default (include "flotilla-common.names.fullname" .) $values.persistence.existingClaim }}
{{- end }}
{{- end -}}

{{- define "flotilla-common.config.volumeMounts" -}}
{{- $values := .Values -}}
- name: tmp
  mountPath: /tmp
{{- if or (contains "api-key" $values.auth.mode) $values.auth.jwksKey }}
- name: auth
  mountPath: /etc/flotilla/auth
  readOnly: true
{{- end }}
{{- range $values.secretFiles }}
- name: {{ .name }}
  mountPath: {{ .mountPath }}
  readOnly: true
{{- end }}
{{- if and $values.persistence $values.persistence.enabled }}
- name: data
  mountPath: {{ $values.persistence.mountPath }}
{{- end }}
{{- end -}}
