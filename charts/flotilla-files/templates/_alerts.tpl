{{/* The files server's own alerts, added to the shared ones. Takes (dict "selector" … "runbook" …). */}}
{{- define "flotilla-files.alertRules" -}}
- alert: FlotillaFilesRefusalsHigh
  expr: |
    sum by (namespace, service, reason) (rate(flotilla_files_refusals_total{ {{- .selector -}} }[5m])) * 60 > 30
  for: 10m
  labels:
    severity: warning
  annotations:
    summary: "{{ "{{" }} $labels.service {{ "}}" }}: many refused file operations ({{ "{{" }} $labels.reason {{ "}}" }})"
    description: "{{ "{{" }} $value | humanize {{ "}}" }} refusals per minute for {{ "{{" }} $labels.reason {{ "}}" }} in {{ "{{" }} $labels.namespace {{ "}}" }}: an agent probing paths, or a tenant at its quota."
    runbook_url: {{ printf "%s#flotillafilesrefusalshigh" .runbook }}
{{- end -}}
