{{/*
The Service of one workload. The server's carries the MCP port (what Ingress/HTTPRoute target) and
the admin port (what the ServiceMonitor scrapes); other workloads expose only the admin port, for
metrics. Takes (dict "context" $ "component" "server").
*/}}
{{- define "flotilla-common.service" -}}
{{- $ctx := .context -}}
{{- $component := .component | default "server" -}}
{{- $names := dict "context" $ctx "component" $component -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "flotilla-common.names.component" $names }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels: {{- include "flotilla-common.labels.standard" $names | nindent 4 }}
  {{- with $ctx.Values.service.annotations }}
  annotations: {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ $ctx.Values.service.type }}
  selector: {{- include "flotilla-common.labels.matchLabels" $names | nindent 4 }}
  ports:
    {{- if eq $component "server" }}
    - name: mcp
      port: {{ $ctx.Values.service.port }}
      targetPort: mcp
      protocol: TCP
      appProtocol: http
    {{- end }}
    - name: admin
      port: {{ $ctx.Values.service.adminPort }}
      targetPort: admin
      protocol: TCP
      appProtocol: http
{{- end -}}

{{- define "flotilla-common.serviceAccount" -}}
{{- $ctx := .context -}}
{{- if $ctx.Values.serviceAccount.create -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "flotilla-common.names.serviceAccount" $ctx }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels: {{- include "flotilla-common.labels.standard" (dict "context" $ctx) | nindent 4 }}
  {{- with $ctx.Values.serviceAccount.annotations }}
  annotations: {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: false
{{- end -}}
{{- end -}}
