{{/*
The data volume of a server that keeps files (persistence.enabled). More than one replica needs
ReadWriteMany, since every replica serves every tenant; one replica may use ReadWriteOnce. The claim
outlives `helm uninstall` (resource-policy keep): deleting data is never a side effect of a release.
Takes (dict "context" $).
*/}}
{{- define "flotilla-common.persistentVolumeClaim" -}}
{{- $ctx := .context -}}
{{- $p := $ctx.Values.persistence -}}
{{- if and $p.enabled (not $p.existingClaim) -}}
{{- $multi := eq (include "flotilla-common.scaling.mayRunMany" $ctx.Values) "true" -}}
{{- $modes := $p.accessModes | default (list (ternary "ReadWriteMany" "ReadWriteOnce" $multi)) -}}
{{- if and $multi (not (has "ReadWriteMany" $modes)) -}}
{{- fail "persistence.accessModes must include ReadWriteMany when more than one replica may run" -}}
{{- end -}}
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{ include "flotilla-common.names.fullname" $ctx }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels: {{- include "flotilla-common.labels.standard" (dict "context" $ctx) | nindent 4 }}
  annotations:
    helm.sh/resource-policy: keep
spec:
  accessModes: {{- toYaml $modes | nindent 4 }}
  {{- with $p.storageClass }}
  storageClassName: {{ . | quote }}
  {{- end }}
  resources:
    requests:
      storage: {{ $p.size }}
{{- end -}}
{{- end -}}
