{{/*
The worker's values: the API's (image, config, security context, probes, …) with the worker's own
replica count, arguments, resources, autoscaling and budget set explicitly. Explicit `set`s rather
than a deep merge, because a merge cannot turn a `true` of the API into the worker's `false`.
*/}}
{{- define "flotilla-notifications.workerValues" -}}
{{- $w := deepCopy .Values -}}
{{- range $key := list "replicaCount" "args" "resources" "autoscaling" "pdb" -}}
{{- $_ := set $w $key (index $.Values.worker $key) -}}
{{- end -}}
{{- toYaml $w -}}
{{- end -}}

{{/* The API's arguments: it delivers too unless a worker does. */}}
{{- define "flotilla-notifications.serverValues" -}}
{{- $w := deepCopy .Values -}}
{{- if not .Values.args -}}
{{- $_ := set $w "args" (list (ternary "--role=api" "--role=all" .Values.worker.enabled)) -}}
{{- end -}}
{{- toYaml $w -}}
{{- end -}}
