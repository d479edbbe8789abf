"""Console service (`alarm-console`): ingest, incidents, escalation, supervision, consoles."""
