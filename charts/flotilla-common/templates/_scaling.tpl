{{/*
Autoscaling and disruption budgets. Both take (dict "context" $ "component" "server" "workload" $w).
*/}}
{{- define "flotilla-common.hpa" -}}
{{- $ctx := .context -}}
{{- $w := .workload | default $ctx.Values -}}
{{- $component := .component | default "server" -}}
{{- $names := dict "context" $ctx "component" $component -}}
{{- if $w.autoscaling.enabled -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "flotilla-common.names.component" $names }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels: {{- include "flotilla-common.labels.standard" $names | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "flotilla-common.names.component" $names }}
  minReplicas: {{ $w.autoscaling.minReplicas }}
  maxReplicas: {{ $w.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $w.autoscaling.targetCPUUtilizationPercentage }}
    {{- if and (eq $component "server") $w.autoscaling.inflightRequests.enabled }}
    # Calls in flight per pod, served by a custom-metrics adapter (prometheus-adapter) from the
    # server's mcp_inflight_requests gauge: I/O-bound tool calls queue long before CPU rises.
    - type: Pods
      pods:
        metric:
          name: mcp_inflight_requests
        target:
          type: AverageValue
          averageValue: {{ $w.autoscaling.inflightRequests.averageValue | quote }}
    {{- end }}
  behavior:
    scaleDown:
      # Scale in slowly: a pod leaving drains for up to the grace period.
      stabilizationWindowSeconds: {{ $w.autoscaling.scaleDownStabilizationSeconds }}
      policies:
        - type: Pods
          value: 1
          periodSeconds: 60
{{- end -}}
{{- end -}}

{{/*
maxUnavailable (never minAvailable): a budget of "at most one pod away" always lets a node drain
proceed one pod at a time, even with one replica, whereas minAvailable equal to the replica count
would block every drain. AlwaysAllow lets an unhealthy pod be evicted regardless of the budget.
*/}}
{{- define "flotilla-common.pdb" -}}
{{- $ctx := .context -}}
{{- $w := .workload | default $ctx.Values -}}
{{- $component := .component | default "server" -}}
{{- $names := dict "context" $ctx "component" $component -}}
{{- if $w.pdb.enabled -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "flotilla-common.names.component" $names }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels: {{- include "flotilla-common.labels.standard" $names | nindent 4 }}
spec:
  maxUnavailable: {{ $w.pdb.maxUnavailable }}
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchLabels: {{- include "flotilla-common.labels.matchLabels" $names | nindent 6 }}
{{- end -}}
{{- end -}}
