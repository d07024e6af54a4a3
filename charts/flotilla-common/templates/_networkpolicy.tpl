{{/*
One NetworkPolicy per workload, with both policy types: every connection the pod is not explicitly
allowed is denied. Ingress: the MCP port from the namespaces named in networkPolicy.ingressNamespaces
(the ingress controller or gateway), the admin port from networkPolicy.monitoringNamespaces, both
from this release's `helm test` pod. Egress: DNS, then only the ports of the server's own
dependencies, each narrowed to given peers when `to` is set.
Takes (dict "context" $ "component" "server" "extraEgress" (list ...)).
(Kubelet probes come from the node and are not subject to NetworkPolicy in common CNIs.)
*/}}
{{- define "flotilla-common.networkPolicy" -}}
{{- $ctx := .context -}}
{{- $values := $ctx.Values -}}
{{- $np := $values.networkPolicy -}}
{{- $component := .component | default "server" -}}
{{- $names := dict "context" $ctx "component" $component -}}
{{- if $np.enabled -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "flotilla-common.names.component" $names }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels: {{- include "flotilla-common.labels.standard" $names | nindent 4 }}
spec:
  podSelector:
    matchLabels: {{- include "flotilla-common.labels.matchLabels" $names | nindent 6 }}
  policyTypes: ["Ingress", "Egress"]
  ingress:
    {{- if eq $component "server" }}
    - ports:
        - port: mcp
          protocol: TCP
      from:
        {{- range $np.ingressNamespaces }}
        - namespaceSelector:
            matchLabels:
              kubernetes.io/metadata.name: {{ . }}
        {{- end }}
        - podSelector:
            matchLabels: {{- include "flotilla-common.labels.matchLabels" (dict "context" $ctx "component" "test") | nindent 14 }}
    {{- end }}
    - ports:
        - port: admin
          protocol: TCP
      from:
        {{- range $np.monitoringNamespaces }}
        - namespaceSelector:
            matchLabels:
              kubernetes.io/metadata.name: {{ . }}
        {{- end }}
        - podSelector:
            matchLabels: {{- include "flotilla-common.labels.matchLabels" (dict "context" $ctx "component" "test") | nindent 14 }}
  egress:
    - to:
        - namespaceSelector:
            matchLabels:
              kubernetes.io/metadata.name: {{ $np.dns.namespace }}
          podSelector:
            matchLabels: {{- toYaml $np.dns.podLabels | nindent 14 }}
      ports:
        - port: 53
          protocol: UDP
        - port: 53
          protocol: TCP
    {{- if and $values.database $values.database.enabled }}
    {{- include "flotilla-common.networkPolicy.egressRule" $np.postgres | nindent 4 }}
    {{- end }}
    {{- if $values.redis.enabled }}
    {{- include "flotilla-common.networkPolicy.egressRule" $np.redis | nindent 4 }}
    {{- end }}
    {{- if and (contains "oauth" $values.auth.mode) $values.auth.jwksUrl }}
    {{- include "flotilla-common.networkPolicy.egressRule" $np.jwks | nindent 4 }}
    {{- end }}
    {{- with .extraEgress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    {{- with $np.extraEgress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}
{{- end -}}

{{/* One egress rule: a TCP port, and the peers it may reach when `to` is given. */}}
{{- define "flotilla-common.networkPolicy.egressRule" -}}
- ports:
    - port: {{ .port }}
      protocol: TCP
  {{- with .to }}
  to: {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
