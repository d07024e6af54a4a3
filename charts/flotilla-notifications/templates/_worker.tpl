{{/*
The worker's values: the API's (image, config, security context, probes, …) with the worker's own
replica count, arguments, resources, autoscaling and budget set explicitly. Explicit `set`s rather
than a deep merge, because a merge cannot turn a `true` of the API into the worker's `false`.
The worker's keda block has no Prometheus of its own: it queries the API's keda.prometheus.
*/}}
{{- define "flotilla-notifications.workerValues" -}}
{{- $w := deepCopy .Values -}}
{{- range $key := list "replicaCount" "args" "resources" "autoscaling" "pdb" -}}
{{- $_ := set $w $key (index $.Values.worker $key) -}}
{{- end -}}
{{- $_ := set $w "keda" (merge (dict "prometheus" .Values.keda.prometheus) .Values.worker.keda) -}}
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

{{/*
The queue gauges are global: every notifications pod (API and workers) reads the same two numbers
from Postgres and exports them, so Prometheus holds one identical series per pod. They must be
collapsed with max(), never summed or averaged per pod: a sum would grow with the replica count and
scale the worker up without end. They are selected by the `service` label the server exports and the
release namespace (one notifications release per namespace).
*/}}
{{- define "flotilla-notifications.queueSelector" -}}
namespace={{ .Release.Namespace | quote }},service={{ include "flotilla-common.names.metricsService" . | quote }}
{{- end -}}

{{/*
External metrics for the worker's HPA (prometheus-adapter's external rules, which apply max() and
map the namespace label). Queue depth is AverageValue: replicas = depth / target, as for any work
queue. The oldest pending age is Value: replicas grow in proportion while it stays above target.
*/}}
{{- define "flotilla-notifications.workerHpaMetrics" -}}
{{- $a := .Values.worker.autoscaling -}}
{{- $selector := dict "matchLabels" (dict "service" (include "flotilla-common.names.metricsService" .)) -}}
{{- $metrics := list -}}
{{- if $a.queueDepth.enabled -}}
{{- $metrics = append $metrics (dict "type" "External" "external" (dict "metric" (dict "name" "flotilla_notifications_queue_depth" "selector" $selector) "target" (dict "type" "AverageValue" "averageValue" ($a.queueDepth.averageValue | toString)))) -}}
{{- end -}}
{{- if $a.oldestPending.enabled -}}
{{- $metrics = append $metrics (dict "type" "External" "external" (dict "metric" (dict "name" "flotilla_notifications_oldest_pending_seconds" "selector" $selector) "target" (dict "type" "Value" "value" ($a.oldestPending.value | toString)))) -}}
{{- end -}}
{{- toYaml $metrics -}}
{{- end -}}

{{/* The same two signals as KEDA prometheus triggers, with the same target semantics. */}}
{{- define "flotilla-notifications.workerKedaTriggers" -}}
{{- $k := .Values.worker.keda -}}
{{- $selector := include "flotilla-notifications.queueSelector" . -}}
{{- $triggers := list -}}
{{- if $k.queueDepth.enabled -}}
{{- $triggers = append $triggers (dict "name" "queue-depth" "query" (printf "max(flotilla_notifications_queue_depth{%s})" $selector) "threshold" $k.queueDepth.averageValue "metricType" "AverageValue") -}}
{{- end -}}
{{- if $k.oldestPending.enabled -}}
{{- $triggers = append $triggers (dict "name" "oldest-pending" "query" (printf "max(flotilla_notifications_oldest_pending_seconds{%s})" $selector) "threshold" $k.oldestPending.value "metricType" "Value") -}}
{{- end -}}
{{- toYaml $triggers -}}
{{- end -}}
