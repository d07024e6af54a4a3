{{/*
Labels. Selectors use only the stable subset (name, instance, component): a selector is immutable
on a Deployment, so it must not contain the chart version.
Both take (dict "context" $ "component" "server").
*/}}
{{- define "flotilla-common.labels.standard" -}}
{{- $ctx := .context -}}
helm.sh/chart: {{ include "flotilla-common.names.chart" $ctx }}
{{ include "flotilla-common.labels.matchLabels" . }}
app.kubernetes.io/version: {{ $ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $ctx.Release.Service }}
app.kubernetes.io/part-of: flotilla
{{- with $ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "flotilla-common.labels.matchLabels" -}}
{{- $ctx := .context -}}
app.kubernetes.io/name: {{ include "flotilla-common.names.name" $ctx }}
app.kubernetes.io/instance: {{ $ctx.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}
