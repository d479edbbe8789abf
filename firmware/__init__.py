"""Desk-unit firmware (`alarm-unit`) and simulated units (`alarm-sim`)."""
