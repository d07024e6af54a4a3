{{/*
Exposure: each server gets its own host (publicHost), the same one PUBLIC_URL names, so the OAuth
audience, the protected-resource metadata and the route agree. The whole host goes to the MCP port:
/mcp and /.well-known/oauth-protected-resource both live there. The admin port is never routed.
Both take (dict "context" $).
*/}}
{{- define "flotilla-common.ingress" -}}
{{- $ctx := .context -}}
{{- $values := $ctx.Values -}}
{{- if $values.ingress.enabled -}}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ include "flotilla-common.names.fullname" $ctx }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels: {{- include "flotilla-common.labels.standard" (dict "context" $ctx) | nindent 4 }}
  {{- with $values.ingress.annotations }}
  annotations: {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- with $values.ingress.className }}
  ingressClassName: {{ . }}
  {{- end }}
  tls:
    - hosts: [{{ $values.publicHost | quote }}]
      secretName: {{ default (printf "%s-tls" (include "flotilla-common.names.fullname" $ctx)) $values.ingress.tlsSecretName }}
  rules:
    - host: {{ $values.publicHost | quote }}
      http:
        paths:
          - path: /
            pathType: Prefix
            backend:
              service:
                name: {{ include "flotilla-common.names.fullname" $ctx }}
                port:
                  name: mcp
{{- end -}}
{{- end -}}

{{- define "flotilla-common.httpRoute" -}}
{{- $ctx := .context -}}
{{- $values := $ctx.Values -}}
{{- if $values.httpRoute.enabled -}}
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: {{ include "flotilla-common.names.fullname" $ctx }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels: {{- include "flotilla-common.labels.standard" (dict "context" $ctx) | nindent 4 }}
  {{- with $values.httpRoute.annotations }}
  annotations: {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  parentRefs: {{- toYaml $values.httpRoute.parentRefs | nindent 4 }}
  hostnames: [{{ $values.publicHost | quote }}]
  rules:
    - matches:
        - path:
            type: PathPrefix
            value: /
      backendRefs:
        - name: {{ include "flotilla-common.names.fullname" $ctx }}
          port: {{ $values.service.port }}
{{- end -}}
{{- end -}}
