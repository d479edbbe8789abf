"""The pure cores: decisions as data, no I/O.

Nothing in this package reads a clock, touches MQTT, SQLite or a file, or logs: time comes in
as `now`, and everything the shell must do comes out as effect data.

- `effects`: the effect types every core emits, and `Tx`, the one step's recorder.
- `notice`: the one way a `Notified` fact is built, recorded and announced.
- `engine`: incidents and their escalation (state, fold, step, alarms, commands).
- `supervision`: units' links, heartbeats, clocks, faults and button tests.
- `world`: both cores over one fact log.
"""
