"""SQLite store: the append-only event log, projections, the notification outbox.

Tables (schema version 1):

- `events`     the log: one row per fact (`stilalarm.console.facts`), never updated; deleted only by the
                retention purge (`stilalarm.console.retention`, `alarm-console purge`).
- `received`   every accepted unit event once, by `event_id` (idempotency; raw payload kept).
- `incidents`  projection: one row per incident (all of them, also after retention).
- `units`      projection: one row per unit (online, faults, last health).
- `outbox`     notifications created with their fact (the console's, e-mail's and Apprise's copies);
                `delivered_at` set once the channel is finished with it: the console's confirmed,
                an e-mail or Apprise message delivered or given up (its attempts are facts).
- `rejects`    counts of refused messages per reason.

Writes happen in ONE thread (the service's writer) in one transaction per batch;
WAL with `synchronous=FULL` makes a commit durable before receipts go out.

The database holds personal data: it, its `-wal`/`-shm` files and backups are created
0600 (missing parent directories 0700) whatever the caller's umask. A missing or empty
database is never created silently (`init=True`, from `serve --init` or `db init`, does),
and a database that cannot be read stops start-up with a `StoreError` that names the
file, what is wrong and how to recover. `check` and `backup` serve `alarm-console db
check` and `alarm-console backup`.

- `schema`: the tables, the schema version and its check.
- `files`: owner-only files and directories, `StoreError` / `StoreMissing` and their messages.
- `rows`: `Batch` (what one group commit writes), `OutboxRow`, the projection rows.
- `database`: `Store`: open, read, commit a batch, purge, rewrite the projections.
- `care`: `check` and `backup`, without the service.
"""

from stilalarm.console.store.care import BackupResult, CheckReport, backup, check
from stilalarm.console.store.database import Store
from stilalarm.console.store.files import StoreError, StoreMissing, file_state
from stilalarm.console.store.rows import Batch, OutboxRow, incident_row, unit_row

__all__ = [
    "BackupResult",
    "Batch",
    "CheckReport",
    "OutboxRow",
    "Store",
    "StoreError",
    "StoreMissing",
    "backup",
    "check",
    "file_state",
    "incident_row",
    "unit_row",
]
