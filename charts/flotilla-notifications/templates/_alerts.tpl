{{/* The notifications server's own alerts, added to the shared ones. Takes (dict "selector" … "runbook" …). */}}
{{- define "flotilla-notifications.alertRules" -}}
- alert: FlotillaNotificationsBacklog
  expr: |
    max by (namespace, service) (flotilla_notifications_oldest_pending_seconds{ {{- .selector -}} }) > 300
  for: 10m
  labels:
    severity: warning
  annotations:
    summary: "{{ "{{" }} $labels.service {{ "}}" }}: notifications wait more than 5 minutes"
    description: "The oldest pending notification in {{ "{{" }} $labels.namespace {{ "}}" }} is {{ "{{" }} $value | humanizeDuration {{ "}}" }} old."
    runbook_url: {{ printf "%s#flotillanotificationsbacklog" .runbook }}
- alert: FlotillaNotificationsDeliveryFailing
  expr: |
    (
      sum by (namespace, service, channel) (rate(flotilla_notifications_deliveries_total{ {{- .selector -}} ,outcome="failed"}[15m]))
    /
      sum by (namespace, service, channel) (rate(flotilla_notifications_deliveries_total{ {{- .selector -}} }[15m]))
    ) > 0.05
  for: 15m
  labels:
    severity: warning
  annotations:
    summary: "{{ "{{" }} $labels.service {{ "}}" }}: channel {{ "{{" }} $labels.channel {{ "}}" }} fails more than 5% of deliveries"
    description: "{{ "{{" }} $value | humanizePercentage {{ "}}" }} of deliveries on {{ "{{" }} $labels.channel {{ "}}" }} in {{ "{{" }} $labels.namespace {{ "}}" }} ended failed after their retries."
    runbook_url: {{ printf "%s#flotillanotificationsdeliveryfailing" .runbook }}
{{- end -}}
