"""Desk-unit firmware (`alarm-unit`) and simulated units (`alarm-sim`)."""

from stilalarm.wire.version import VERSION

FIRMWARE_VERSION = VERSION  # the one version (pyproject.toml)
