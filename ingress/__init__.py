"""alarm-web: the web ingress. Desk phones' alarm keys and the phone panic page raise alarms
through it, on the firmware's own outbox and receipt logic (docs/WEB.md)."""
