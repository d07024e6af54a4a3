{{/*
The `helm test` pod: the server's own image (already pulled, pinned, and it has node), a few lines
of script, no shell. It checks /readyz on the admin port, then lists tools over MCP with the API key
in tests.existingSecret. Without that Secret it checks that /mcp answers 401 with the RFC 9728
challenge instead, so a release without a test credential still proves the endpoint is served.
Takes (dict "context" $).
*/}}
{{- define "flotilla-common.tests.script" -}}
const fail = (message) => { console.error(`FAIL ${message}`); process.exit(1); };
const ready = await fetch(`${process.env.ADMIN_URL}/readyz`).catch((error) => fail(`readyz: ${error.message}`));
const health = await ready.text();
if (ready.status !== 200) fail(`readyz answered ${ready.status}: ${health}`);
console.log(`readyz: ${health}`);
const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' };
if (process.env.API_KEY) headers.authorization = `Bearer ${process.env.API_KEY}`;
const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} });
const response = await fetch(process.env.MCP_URL, { method: 'POST', headers, body }).catch((error) => fail(`mcp: ${error.message}`));
const text = await response.text();
if (!process.env.API_KEY) {
  if (response.status === 401 && (response.headers.get('www-authenticate') ?? '').includes('resource_metadata=')) {
    console.log('no test API key (tests.existingSecret): /mcp answers 401 with its protected-resource challenge');
    process.exit(0);
  }
  fail(`unauthenticated tools/list answered ${response.status}, expected a 401 challenge`);
}
if (response.status !== 200) fail(`tools/list answered ${response.status}: ${text.slice(0, 300)}`);
const json = text.trimStart().startsWith('{') ? text : text.split('\n').filter((line) => line.startsWith('data:')).map((line) => line.slice(5)).join('');
const tools = JSON.parse(json).result?.tools ?? [];
if (tools.length === 0) fail('tools/list returned no tools');
console.log(`tools: ${tools.map((tool) => tool.name).join(', ')}`);
{{- end -}}

{{- define "flotilla-common.tests.pod" -}}
{{- $ctx := .context -}}
{{- $values := $ctx.Values -}}
{{- $fullname := include "flotilla-common.names.fullname" $ctx -}}
{{- $names := dict "context" $ctx "component" "test" -}}
{{- if $values.tests.enabled -}}
apiVersion: v1
kind: Pod
metadata:
  name: {{ printf "%s-test" $fullname | trunc 63 | trimSuffix "-" }}
  namespace: {{ $ctx.Release.Namespace | quote }}
  labels: {{- include "flotilla-common.labels.standard" $names | nindent 4 }}
  annotations:
    helm.sh/hook: test
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  enableServiceLinks: false
  securityContext: {{- include "flotilla-common.security.pod" $values.securityContext | nindent 4 }}
  {{- include "flotilla-common.images.pullSecrets" $ctx | nindent 2 }}
  containers:
    - name: test
      image: {{ include "flotilla-common.images.image" (dict "image" $values.image "context" $ctx) }}
      imagePullPolicy: {{ $values.image.pullPolicy }}
      command: ["node"]
      args:
        - --input-type=module
        - -e
        - |
          {{- include "flotilla-common.tests.script" $ctx | nindent 10 }}
      env:
        - name: ADMIN_URL
          value: {{ printf "http://%s.%s.svc:%v" $fullname $ctx.Release.Namespace $values.service.adminPort | quote }}
        - name: MCP_URL
          value: {{ printf "http://%s.%s.svc:%v/mcp" $fullname $ctx.Release.Namespace $values.service.port | quote }}
        - name: API_KEY
          valueFrom:
            secretKeyRef:
              name: {{ include "flotilla-common.names.secret" (dict "context" $ctx "purpose" "test" "existingSecret" $values.tests.existingSecret) }}
              key: {{ $values.tests.apiKeyKey }}
              optional: true
      resources: {{- toYaml $values.tests.resources | nindent 8 }}
      securityContext: {{- include "flotilla-common.security.container" $values.securityContext | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 16Mi
{{- end -}}
{{- end -}}
