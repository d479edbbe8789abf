"""Desk-unit firmware (`alarm-unit`) and simulated units (`alarm-sim`)."""

from wire.version import VERSION

FIRMWARE_VERSION = VERSION  # the one version (pyproject.toml)
