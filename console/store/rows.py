"""What one group commit writes (`Batch`, `OutboxRow`) and the projection rows of incidents
and units."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stilalarm.console.core.engine import Incident
from stilalarm.console.core.supervision import UnitsState
from stilalarm.console.facts import Fact


@dataclass(frozen=True)
class OutboxRow:
    """One notification for one channel, stored with the fact that created it."""

    notification_id: uuid.UUID
    channel: str
    person_id: str
    topic: str
    payload: bytes
    created_at: datetime


@dataclass
class Batch:
    """Everything one group commit writes."""

    facts: list[Fact] = field(default_factory=list)
    received: list[tuple[str, str, str, str, str | None, bytes]] = field(default_factory=list)
    incidents: dict[str, Incident] = field(default_factory=dict)
    units: dict[str, tuple[int | None, str | None, str | None, str, str]] = field(default_factory=dict)
    outbox: list[OutboxRow] = field(default_factory=list)
    delivered: list[tuple[str, str, str]] = field(default_factory=list)
    rejects: dict[str, int] = field(default_factory=dict)

    def extend(self, later: Batch) -> None:
        """Append a later batch (the service holds batches it could not store, in order)."""
        self.facts += later.facts
        self.received += later.received
        self.incidents.update(later.incidents)
        self.units.update(later.units)
        self.outbox += later.outbox
        self.delivered += later.delivered
        for reason, n in later.rejects.items():
            self.rejects[reason] = self.rejects.get(reason, 0) + n

    def merged(self, later: Batch) -> Batch:
        """A new batch with this one's content followed by `later`'s (neither is changed)."""
        out = Batch(
            list(self.facts),
            list(self.received),
            dict(self.incidents),
            dict(self.units),
            list(self.outbox),
            list(self.delivered),
            dict(self.rejects),
        )
        out.extend(later)
        return out

    def empty(self) -> bool:
        return not (
            self.facts
            or self.received
            or self.incidents
            or self.units
            or self.outbox
            or self.delivered
            or self.rejects
        )


def _iso(d: datetime | None) -> str | None:
    return None if d is None else d.isoformat()


def incident_row(i: Incident) -> tuple[Any, ...]:
    """The `incidents` projection row of an incident."""
    return (
        i.id,
        i.unit_id or "",  # an overdue visit has no unit or room (the columns predate it: NOT NULL)
        i.room_id or "",
        i.team_id,
        i.status.value,
        i.level,
        i.pressed_at.isoformat(),
        i.stored_at.isoformat(),
        i.presses,
        i.acknowledged_by,
        _iso(i.acknowledged_at),
        i.resolved_by,
        _iso(i.resolved_at),
        int(i.call_101),
        i.registration.model_dump_json() if i.registration else None,
        i.to_wire().model_dump_json(),
    )


def unit_row(s: UnitsState, unit_id: str) -> tuple[int | None, str | None, str | None, str, str]:
    """The `units` projection row of a unit (without the id)."""
    r = s.units[unit_id]
    return (
        None if r.online is None else int(r.online),
        _iso(r.since),
        None if r.boot_id is None else str(r.boot_id),
        json.dumps(sorted(r.faults)),
        s.health(unit_id).model_dump_json(),
    )
