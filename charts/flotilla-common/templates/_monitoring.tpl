{{/*
Prometheus Operator resources, both off by default (they need its CRDs).
*/}}

{{/*
One ServiceMonitor for every Service of the release (the server's and a worker's), on the admin
port. honorLabels keeps the `service` label the server itself exports (flotilla-<domain>), which
the alerts and dashboards select on; without it the operator's own `service` target label (the
Kubernetes Service name) would rename it to exported_service.
Takes (dict "context" $).
*/}}
{{- define "flotilla-common.serviceMonitor" -}}
{{- $ctx := .context -}}
{{- $sm := $ctx.Values.metrics.serviceMonitor -}}
{{- if $sm.enabled -}}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "flotilla-common.names.fullname" $ctx }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels: {{- include "flotilla-common.labels.standard" (dict "context" $ctx) | nindent 4 }}
    {{- with $sm.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels: {{- include "flotilla-common.labels.matchLabels" (dict "context" $ctx) | nindent 6 }}
  namespaceSelector:
    matchNames: [{{ $ctx.Release.Namespace | quote }}]
  endpoints:
    - port: admin
      path: /metrics
      interval: {{ $sm.interval }}
      scrapeTimeout: {{ $sm.scrapeTimeout }}
      honorLabels: true
{{- end -}}
{{- end -}}

{{/*
The alert rules every server shares (SPEC §11), for one label selector. k8s/monitoring holds the
same rules for the whole fleet (selector service=~"flotilla-.+"); test/deploy checks they agree.
Takes (dict "selector" "..." "runbook" "base URL").
"Errors" are the codes that are the server's fault (INTERNAL, UNAVAILABLE, TIMEOUT): a model
sending bad SQL or asking for a missing file is answered correctly and must not page anyone.
*/}}
{{- define "flotilla-common.alertRules" -}}
{{- $sel := .selector -}}
- alert: FlotillaToolErrorRateHigh
  expr: |
    (
      sum by (namespace, service) (rate(mcp_tool_calls_total{ {{- $sel -}} ,outcome=~"INTERNAL|UNAVAILABLE|TIMEOUT"}[5m]))
    /
      sum by (namespace, service) (rate(mcp_tool_calls_total{ {{- $sel -}} }[5m]))
    ) > 0.01
  for: 10m
  labels:
    severity: warning
  annotations:
    summary: "{{ "{{" }} $labels.service {{ "}}" }}: more than 1% of tool calls fail on the server side"
    description: "{{ "{{" }} $value | humanizePercentage {{ "}}" }} of tool calls in {{ "{{" }} $labels.namespace {{ "}}" }} ended INTERNAL, UNAVAILABLE or TIMEOUT over 5 minutes."
    runbook_url: {{ printf "%s#flotillatoolerrorratehigh" .runbook }}
- alert: FlotillaToolLatencyHigh
  expr: |
    histogram_quantile(0.99,
      sum by (namespace, service, le) (rate(mcp_server_operation_duration_seconds_bucket{ {{- $sel -}} ,mcp_method_name="tools/call"}[5m]))
    ) > 1
  for: 10m
  labels:
    severity: warning
  annotations:
    summary: "{{ "{{" }} $labels.service {{ "}}" }}: p99 tool call latency above 1 s"
    description: "The 99th percentile of tools/call in {{ "{{" }} $labels.namespace {{ "}}" }} is {{ "{{" }} $value | humanizeDuration {{ "}}" }}."
    runbook_url: {{ printf "%s#flotillatoollatencyhigh" .runbook }}
- alert: FlotillaAuthFailuresHigh
  expr: |
    sum by (namespace, service) (rate(mcp_auth_failures_total{ {{- $sel -}} }[5m])) * 60 > 10
  for: 5m
  labels:
    severity: warning
  annotations:
    summary: "{{ "{{" }} $labels.service {{ "}}" }}: more than 10 authentication failures per minute"
    description: "{{ "{{" }} $value | humanize {{ "}}" }} rejected credentials or scopes per minute in {{ "{{" }} $labels.namespace {{ "}}" }}."
    runbook_url: {{ printf "%s#flotillaauthfailureshigh" .runbook }}
- alert: FlotillaRateLimitSurge
  expr: |
    (
      sum by (namespace, service) (rate(mcp_rate_limited_total{ {{- $sel -}} }[5m]))
    /
      (
        sum by (namespace, service) (rate(mcp_rate_limited_total{ {{- $sel -}} }[5m]))
        + (
          sum by (namespace, service) (rate(mcp_server_operation_duration_seconds_count{ {{- $sel -}} }[5m]))
          or sum by (namespace, service) (rate(mcp_rate_limited_total{ {{- $sel -}} }[5m])) * 0
        )
      )
    ) > 0.05
    and
    sum by (namespace, service) (rate(mcp_rate_limited_total{ {{- $sel -}} }[5m])) * 60 > 12
  for: 10m
  labels:
    severity: warning
  annotations:
    summary: "{{ "{{" }} $labels.service {{ "}}" }}: more than 5% of requests are refused by rate limits"
    description: "{{ "{{" }} $value | humanizePercentage {{ "}}" }} of requests in {{ "{{" }} $labels.namespace {{ "}}" }} were refused by rate limits: a client is looping, or the limits are too tight for real traffic."
    runbook_url: {{ printf "%s#flotillaratelimitsurge" .runbook }}
- alert: FlotillaDependencyDown
  expr: |
    min by (namespace, service, dependency) (flotilla_dependency_up{ {{- $sel -}} }) == 0
  for: 2m
  labels:
    severity: critical
  annotations:
    summary: "{{ "{{" }} $labels.service {{ "}}" }}: {{ "{{" }} $labels.dependency {{ "}}" }} is unreachable"
    description: "At least one replica in {{ "{{" }} $labels.namespace {{ "}}" }} has failed its {{ "{{" }} $labels.dependency {{ "}}" }} health check for 2 minutes."
    runbook_url: {{ printf "%s#flotilladependencydown" .runbook }}
- alert: FlotillaCircuitOpen
  expr: |
    max by (namespace, service, dependency) (flotilla_circuit_open{ {{- $sel -}} }) == 1
  for: 1m
  labels:
    severity: warning
  annotations:
    summary: "{{ "{{" }} $labels.service {{ "}}" }}: circuit breaker for {{ "{{" }} $labels.dependency {{ "}}" }} is open"
    description: "Calls to {{ "{{" }} $labels.dependency {{ "}}" }} in {{ "{{" }} $labels.namespace {{ "}}" }} fail fast with UNAVAILABLE until it recovers."
    runbook_url: {{ printf "%s#flotillacircuitopen" .runbook }}
{{- end -}}

{{/*
Takes (dict "context" $ "extraRules" "<YAML list of the server's own rules, or empty>").
*/}}
{{- define "flotilla-common.prometheusRule" -}}
{{- $ctx := .context -}}
{{- $pr := $ctx.Values.metrics.prometheusRule -}}
{{- if $pr.enabled -}}
{{- $rulesArgs := dict "selector" (printf "namespace=%q,service=%q" $ctx.Release.Namespace (include "flotilla-common.names.metricsService" $ctx)) "runbook" $pr.runbookUrl -}}
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: {{ include "flotilla-common.names.fullname" $ctx }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels: {{- include "flotilla-common.labels.standard" (dict "context" $ctx) | nindent 4 }}
    {{- with $pr.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  groups:
    - name: {{ include "flotilla-common.names.metricsService" $ctx }}.rules
      rules: {{- include "flotilla-common.alertRules" $rulesArgs | nindent 8 }}
        {{- with .extraRules }}
        {{- include . $rulesArgs | nindent 8 }}
        {{- end }}
{{- end -}}
{{- end -}}
