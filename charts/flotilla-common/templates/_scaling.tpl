{{/*
Autoscaling and disruption budgets. Each takes (dict "context" $ "component" "server" "workload" $w);
the autoscalers also take optional extras from the calling chart: `metrics` (HPA metric entries) and
`prometheusTriggers` (KEDA triggers as {name, query, threshold, metricType}), which is how the
notifications worker adds its queue metrics without the library knowing about queues.

Two ways to scale one Deployment, never both: an HPA (`autoscaling`, CPU and/or metrics served by
metrics-server and prometheus-adapter) or a KEDA ScaledObject (`keda`, KEDA queries Prometheus
itself and creates its own HPA, keda-hpa-<name>). Two HPAs on one Deployment would fight over its
replica count, so the ScaledObject refuses to render while the HPA is on.
*/}}
{{- define "flotilla-common.hpa" -}}
{{- $ctx := .context -}}
{{- $w := .workload | default $ctx.Values -}}
{{- $component := .component | default "server" -}}
{{- $names := dict "context" $ctx "component" $component -}}
{{- $a := $w.autoscaling -}}
{{- if $a.enabled -}}
{{- $cpu := not (kindIs "invalid" $a.targetCPUUtilizationPercentage) -}}
{{- $inflight := and (eq $component "server") $a.inflightRequests.enabled -}}
{{- if not (or $cpu $inflight .metrics) -}}
{{- fail (printf "%sautoscaling has no metric: set targetCPUUtilizationPercentage or enable a load metric" (include "flotilla-common.scaling.prefix" $component)) -}}
{{- end -}}
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
  minReplicas: {{ $a.minReplicas }}
  maxReplicas: {{ $a.maxReplicas }}
  metrics:
    {{- if $cpu }}
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ $a.targetCPUUtilizationPercentage }}
    {{- end }}
    {{- if $inflight }}
    # Calls in flight per pod, served by a custom-metrics adapter (prometheus-adapter) from the
    # server's mcp_inflight_requests gauge: I/O-bound tool calls queue long before CPU rises.
    - type: Pods
      pods:
        metric:
          name: mcp_inflight_requests
        target:
          type: AverageValue
          averageValue: {{ $a.inflightRequests.averageValue | quote }}
    {{- end }}
    {{- with .metrics }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  behavior:
    scaleDown:
      # Scale in slowly: a pod leaving drains for up to the grace period.
      stabilizationWindowSeconds: {{ $a.scaleDownStabilizationSeconds }}
      policies:
        - type: Pods
          value: 1
          periodSeconds: 60
{{- end -}}
{{- end -}}

{{/*
A KEDA ScaledObject (keda.sh/v1alpha1) for one workload, off unless its `keda.enabled`. The server
gets a prometheus trigger on the calls in flight of its own pods (summed; KEDA's AverageValue
divides by the replica count, so the threshold is per pod); callers add theirs (`prometheusTriggers`).
CPU is an extra trigger unless keda.targetCPUUtilizationPercentage is null. ignoreNullValues is
false: when Prometheus returns nothing (a lost target, a wrong query) the trigger errors and the
HPA holds the replica count instead of scaling in on a metric it cannot see.
*/}}
{{- define "flotilla-common.scaledObject" -}}
{{- $ctx := .context -}}
{{- $w := .workload | default $ctx.Values -}}
{{- $component := .component | default "server" -}}
{{- $names := dict "context" $ctx "component" $component -}}
{{- $k := $w.keda -}}
{{- if $k.enabled -}}
{{- $name := include "flotilla-common.names.component" $names -}}
{{- $prefix := include "flotilla-common.scaling.prefix" $component -}}
{{- if $w.autoscaling.enabled -}}
{{- fail (printf "%skeda.enabled and %sautoscaling.enabled both scale Deployment %s: KEDA creates and owns its own HPA (keda-hpa-%s), and two HPAs fight over one replica count. Set %sautoscaling.enabled=false." $prefix $prefix $name $name $prefix) -}}
{{- end -}}
{{- $prom := $k.prometheus -}}
{{- if ne (empty $prom.authModes) (empty $prom.authenticationRef) -}}
{{- fail (printf "%skeda.prometheus.authModes and authenticationRef go together: the TriggerAuthentication holds what the mode needs" $prefix) -}}
{{- end -}}
{{- $triggers := list -}}
{{- if and (eq $component "server") $k.inflightRequests.enabled -}}
{{- $query := printf "sum(avg_over_time(mcp_inflight_requests{namespace=%q,pod=~%q}[2m]))" $ctx.Release.Namespace (printf "%s-[a-z0-9]+-[a-z0-9]+" $name) -}}
{{- $triggers = append $triggers (dict "name" "inflight-requests" "query" $query "threshold" $k.inflightRequests.averageValue "metricType" "AverageValue") -}}
{{- end -}}
{{- $triggers = concat $triggers (.prometheusTriggers | default list) -}}
{{- $cpu := not (kindIs "invalid" $k.targetCPUUtilizationPercentage) -}}
{{- if not (or $triggers $cpu) -}}
{{- fail (printf "%skeda has no trigger: set targetCPUUtilizationPercentage or enable a load metric" $prefix) -}}
{{- end -}}
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: {{ $name }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels: {{- include "flotilla-common.labels.standard" $names | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ $name }}
  minReplicaCount: {{ $k.minReplicas }}
  maxReplicaCount: {{ $k.maxReplicas }}
  pollingInterval: {{ $k.pollingInterval }}
  advanced:
    # Switching back to the HPA deletes the ScaledObject: the Deployment keeps the count KEDA last
    # set and the HPA goes on from there, rather than jumping back to the count before KEDA.
    restoreToOriginalReplicaCount: false
    horizontalPodAutoscalerConfig:
      behavior:
        scaleDown:
          # As the chart's own HPA: scale in slowly, a pod leaving drains for up to the grace period.
          stabilizationWindowSeconds: {{ $k.scaleDownStabilizationSeconds }}
          policies:
            - type: Pods
              value: 1
              periodSeconds: 60
  triggers:
    {{- if $cpu }}
    - type: cpu
      metricType: Utilization
      metadata:
        value: {{ $k.targetCPUUtilizationPercentage | toString | quote }}
    {{- end }}
    {{- range $triggers }}
    - type: prometheus
      name: {{ .name }}
      metricType: {{ .metricType }}
      metadata:
        serverAddress: {{ $prom.serverAddress | quote }}
        query: {{ .query | quote }}
        threshold: {{ .threshold | toString | quote }}
        ignoreNullValues: "false"
        {{- with $prom.authModes }}
        authModes: {{ . | quote }}
        {{- end }}
      {{- with $prom.authenticationRef }}
      authenticationRef:
        name: {{ . }}
      {{- end }}
    {{- end }}
{{- end -}}
{{- end -}}

{{/*
One NOTES.txt line: what scales the workload and how to watch it.
Takes (dict "context" $ "component" "server" "workload" $w).
*/}}
{{- define "flotilla-common.scaling.notes" -}}
{{- $ctx := .context -}}
{{- $w := .workload | default $ctx.Values -}}
{{- $name := include "flotilla-common.names.component" (dict "context" $ctx "component" (.component | default "server")) -}}
{{- if $w.keda.enabled -}}
{{ $name }}: KEDA ScaledObject, {{ $w.keda.minReplicas }}-{{ $w.keda.maxReplicas }} replicas   kubectl -n {{ $ctx.Release.Namespace }} get scaledobject/{{ $name }} hpa/keda-hpa-{{ $name }}
{{- else if $w.autoscaling.enabled -}}
{{ $name }}: HPA, {{ $w.autoscaling.minReplicas }}-{{ $w.autoscaling.maxReplicas }} replicas   kubectl -n {{ $ctx.Release.Namespace }} get hpa {{ $name }}
{{- else -}}
{{ $name }}: {{ $w.replicaCount }} replicas, no autoscaler
{{- end -}}
{{- end -}}

{{/* "" for the server, "worker." for the worker: how a message names the values it refers to. */}}
{{- define "flotilla-common.scaling.prefix" -}}
{{- if ne . "server" }}{{ . }}.{{ end -}}
{{- end -}}

{{/* Whether a workload runs more than one replica at some point (a shared volume must then be ReadWriteMany). */}}
{{- define "flotilla-common.scaling.mayRunMany" -}}
{{- $w := . -}}
{{- if or (gt (int $w.replicaCount) 1) (and $w.autoscaling.enabled (gt (int $w.autoscaling.maxReplicas) 1)) (and $w.keda.enabled (gt (int $w.keda.maxReplicas) 1)) -}}
true
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
