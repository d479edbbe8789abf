"""Desk-unit firmware (`alarm-unit`) and simulated units (`alarm-sim`)."""

FIRMWARE_VERSION = "0.1.0"
