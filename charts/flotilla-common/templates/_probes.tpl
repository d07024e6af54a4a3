{{/*
Probes, all on the admin port (SPEC §3): /livez answers while the process and its event loop do;
/readyz turns 503 when a required dependency is down or the server is draining, so a pod leaves the
Service endpoints without being restarted. The startup probe gives a slow first start (a cold
schema cache, a far database) time before liveness may kill it.
Takes the workload's `probes` values.
*/}}
{{- define "flotilla-common.probes" -}}
startupProbe:
  httpGet:
    path: /livez
    port: admin
  periodSeconds: {{ .startup.periodSeconds }}
  timeoutSeconds: {{ .startup.timeoutSeconds }}
  failureThreshold: {{ .startup.failureThreshold }}
livenessProbe:
  httpGet:
    path: /livez
    port: admin
  periodSeconds: {{ .liveness.periodSeconds }}
  timeoutSeconds: {{ .liveness.timeoutSeconds }}
  failureThreshold: {{ .liveness.failureThreshold }}
readinessProbe:
  httpGet:
    path: /readyz
    port: admin
  periodSeconds: {{ .readiness.periodSeconds }}
  timeoutSeconds: {{ .readiness.timeoutSeconds }}
  failureThreshold: {{ .readiness.failureThreshold }}
{{- end -}}

{{/*
The grace period must outlast SIGTERM handling: SHUTDOWN_DELAY_MS unready-but-serving, then up to
SHUTDOWN_TIMEOUT_MS draining, plus a margin for closing pools and flushing telemetry. Computed from
the same config the pod receives, so the two cannot drift apart; an explicit value must be longer.
*/}}
{{- define "flotilla-common.terminationGracePeriod" -}}
{{- $config := .Values.config | default dict -}}
{{- $delay := int (default 5000 $config.SHUTDOWN_DELAY_MS) -}}
{{- $timeout := int (default 20000 $config.SHUTDOWN_TIMEOUT_MS) -}}
{{- $needed := div (add $delay $timeout 999) 1000 -}}
{{- if .Values.terminationGracePeriodSeconds -}}
{{- if le (int .Values.terminationGracePeriodSeconds) (int $needed) -}}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed SHUTDOWN_DELAY_MS + SHUTDOWN_TIMEOUT_MS (%vs)" .Values.terminationGracePeriodSeconds $needed) -}}
{{- end -}}
{{- .Values.terminationGracePeriodSeconds -}}
{{- else -}}
{{- add $needed 5 -}}
{{- end -}}
{{- end -}}
