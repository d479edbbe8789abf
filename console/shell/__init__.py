"""The console's service shell: everything around the pure cores that touches the world.

The writer thread owns the state and the database; the cores decide, this package does what
they decided, after the commit (docs/CONSOLE.md).

- `service`: `ConsoleService`: construction, start / stop, the writer loop and one batch.
- `inbox`: what the writer's inbox carries besides MQTT messages, and the refusal log.
- `limits`: per-unit input limits on the writer's side: fair batches, counted presses, floods.
- `outgoing`: a batch's notifications routed to the channels, and handed over after the commit.
- `degraded`: storing each batch, and degraded mode when the database cannot store.
- `publisher`: receipts, unit commands, command replies, pages, retained incidents, timelines,
  unit and presence states, and the console's own status.

Modules are imported by name (this package re-exports nothing).
"""
