"""A batch's database rows as one JSON record: what the active console appends to the replicated
log and what a standby applies to its own database (docs/HA.md).

The record holds the rows exactly as `Store` writes them, so the standby's SQLite is the same
projection of the same log: the events in log order, the received unit events (deduplication),
the incident and unit projections, the notification outbox and its delivery marks, the reject
counts. Bytes are base64.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from stilalarm.console.facts import column, fact_json
from stilalarm.console.store.rows import Batch, incident_row

RECORD_VERSION = 1
"""Bumped when the record's layout changes; a standby refuses a record of another version."""
PURGE_VERSION = 2
"""A retention purge record (`PurgeRecord`), since the cluster's retention (docs/HA.md); a console of
an older version refuses it with the same advice as for a newer record."""


class RecordError(ValueError):
    """A log record that cannot be read: the message says which part and what to do."""


@dataclass
class Rows:
    """What one commit writes, as plain rows (the columns of each table, in order)."""

    at: str
    events: list[list[Any]] = field(default_factory=list)
    received: list[list[Any]] = field(default_factory=list)
    incidents: list[list[Any]] = field(default_factory=list)
    units: list[list[Any]] = field(default_factory=list)
    outbox: list[list[Any]] = field(default_factory=list)
    delivered: list[list[Any]] = field(default_factory=list)
    rejects: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PurgeRecord:
    """A retention purge (`stilalarm.console.retention.PurgePlan`) as every console of a cluster applies
    it: the events by log `seq` (the same in every console's database: each is a projection of the same
    log), the incidents, the rendered notifications and the supervision cut-off."""

    at: str
    seqs: tuple[int, ...]
    incidents: tuple[str, ...]
    notifications: tuple[str, ...]
    supervision_before: str
    """ISO time; '' when the plan has none."""


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def rows_of(b: Batch, now: datetime) -> Rows:
    """The rows `b` writes at `now`."""
    return Rows(
        at=now.isoformat(),
        events=[
            [
                f.at.isoformat(),
                f.kind,
                column(f, "incident_id"),
                column(f, "unit_id"),
                column(f, "person_id"),
                column(f, "event_id"),
                fact_json(f),
            ]
            for f in b.facts
        ],
        received=[[*r[:5], r[5]] for r in b.received],
        incidents=[list(incident_row(i)) for i in b.incidents.values()],
        units=[[uid, *row] for uid, row in b.units.items()],
        outbox=[
            [str(o.notification_id), o.channel, o.person_id, o.topic, o.payload, o.created_at.isoformat()]
            for o in b.outbox
        ],
        delivered=[list(d) for d in b.delivered],
        rejects=dict(b.rejects),
    )


def encode(rows: Rows) -> bytes:
    """The log record of `rows` (JSON, bytes as base64)."""
    doc = {
        "v": RECORD_VERSION,
        "at": rows.at,
        "events": rows.events,
        "received": [[*r[:5], _b64(r[5])] for r in rows.received],
        "incidents": rows.incidents,
        "units": rows.units,
        "outbox": [[*r[:4], _b64(r[4]), r[5]] for r in rows.outbox],
        "delivered": rows.delivered,
        "rejects": rows.rejects,
    }
    return json.dumps(doc, separators=(",", ":")).encode("utf-8")


def encode_purge(p: PurgeRecord) -> bytes:
    """The log record of a retention purge."""
    doc = {
        "v": PURGE_VERSION,
        "kind": "purge",
        "at": p.at,
        "seqs": list(p.seqs),
        "incidents": list(p.incidents),
        "notifications": list(p.notifications),
        "supervision_before": p.supervision_before,
    }
    return json.dumps(doc, separators=(",", ":")).encode("utf-8")


def _purge_of(doc: dict[str, Any]) -> PurgeRecord:
    try:
        return PurgeRecord(
            at=str(doc["at"]),
            seqs=tuple(int(s) for s in doc["seqs"]),
            incidents=tuple(str(i) for i in doc["incidents"]),
            notifications=tuple(str(n) for n in doc["notifications"]),
            supervision_before=str(doc["supervision_before"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordError(f"purge record is incomplete ({type(exc).__name__}: {exc})") from None


def decode(record: bytes) -> Rows | PurgeRecord:
    """The rows (or the retention purge) of a log record; RecordError when it is not one this
    version can apply."""
    try:
        doc = json.loads(record)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordError(f"log record is not JSON ({exc})") from None
    if isinstance(doc, dict) and doc.get("v") == PURGE_VERSION and doc.get("kind") == "purge":
        return _purge_of(doc)
    if not isinstance(doc, dict) or doc.get("v") != RECORD_VERSION:
        got = doc.get("v") if isinstance(doc, dict) else type(doc).__name__
        raise RecordError(
            f"log record version {got!r}, this console reads {RECORD_VERSION}: "
            "run the same stilalarm version on every console of the site"
        )
    try:
        return Rows(
            at=str(doc["at"]),
            events=list(doc["events"]),
            received=[[*r[:5], base64.b64decode(r[5])] for r in doc["received"]],
            incidents=list(doc["incidents"]),
            units=list(doc["units"]),
            outbox=[[*r[:4], base64.b64decode(r[4]), r[5]] for r in doc["outbox"]],
            delivered=list(doc["delivered"]),
            rejects={str(k): int(v) for k, v in doc["rejects"].items()},
        )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise RecordError(f"log record is incomplete ({type(exc).__name__}: {exc})") from None


class StepDown(Exception):
    """This console must stop being the active one at once: the replicated log refused an append
    (another console wrote first), the lease ran out while an append waited for the cluster, or
    this server's database could not store what the log already holds. The other console takes
    over from the log (docs/HA.md)."""


class LogSlow(Exception):
    """The replicated log has not confirmed a record within the bound: it is still being tried
    with the same record id in the background (stored at most once). Nothing of it is stored here
    yet; the writer pages from memory and withholds the receipts (docs/HA.md, degraded mode)."""


class Replica(Protocol):
    """Where the active console appends each record before committing it locally."""

    def append(self, record: bytes) -> int:
        """Store `record` in the log and return its sequence; raise StepDown when the log refuses
        it, LogSlow when it is not confirmed yet (call again with the same record to learn its
        outcome; nothing else may be appended until then)."""
        ...
