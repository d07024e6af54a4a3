{{/*
Names. Every name is cut to 63 characters, the limit of a DNS label, which Service and label
values must respect.
*/}}

{{/* The chart's short name: flotilla-database, unless nameOverride says otherwise. */}}
{{- define "flotilla-common.names.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* chart-version, as the helm.sh/chart label wants it. */}}
{{- define "flotilla-common.names.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* release-chart, or the shorter of the two when one already contains the other. */}}
{{- define "flotilla-common.names.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else if hasPrefix (printf "%s-" .Release.Name) $name -}}
{{- /* release "flotilla" of the umbrella: flotilla-database, not flotilla-flotilla-database */ -}}
{{- $name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The name of one workload of the release: the MCP server keeps the plain full name, so its Service
is what clients expect; other workloads (the notifications worker) get a suffix.
Takes (dict "context" $ "component" "server").
*/}}
{{- define "flotilla-common.names.component" -}}
{{- $fullname := include "flotilla-common.names.fullname" .context -}}
{{- if or (not .component) (eq .component "server") -}}
{{- $fullname -}}
{{- else -}}
{{- printf "%s-%s" $fullname .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "flotilla-common.names.serviceAccount" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "flotilla-common.names.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The `service` label the server puts on every metric it exports (prom-client default label,
`flotilla-<domain>`). Alerts select on it because it is the same however the pods are scraped.
*/}}
{{- define "flotilla-common.names.metricsService" -}}
{{- .Chart.Name -}}
{{- end -}}

{{/* Secret names default to <fullname>-<purpose>, so NOTES.txt can tell the operator what to create. */}}
{{- define "flotilla-common.names.secret" -}}
{{- default (printf "%s-%s" (include "flotilla-common.names.fullname" .context) .purpose) .existingSecret -}}
{{- end -}}
