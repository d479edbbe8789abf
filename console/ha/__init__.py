"""Active/standby consoles on a cluster (docs/HA.md): the replicated log and lease client
(`jetstream`), the lease keeper (`keeper`), the log as the store's replica (`replica`), and the
standby's follow-then-take-over run (`run`)."""
