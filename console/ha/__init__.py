"""The active/standby console on the cluster profile: the replicated facts log and the lease (docs/HA.md)."""
