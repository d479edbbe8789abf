"""The one notice helper: build a `Notified` fact, record it, emit `Notify`.

Every core and the shell's own notices (store, channel and flood faults) build their facts
here, so notification ids are derived one way everywhere: deterministic, so a rebuild
yields the same ones and receivers dedupe on them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from stilalarm.console.core.effects import Notify
from stilalarm.console.facts import Fact, Notified
from stilalarm.wire.messages import NotifyReason

NOTICE_NS = uuid.UUID("6f1d7c1e-4d8a-4b53-9a53-2f4c1c1b7a10")


class Recorder(Protocol):
    """A step in progress (`effects.Tx`): its time, and where facts and effects go."""

    @property
    def now(self) -> datetime: ...

    def record(self, fact: Fact) -> None: ...

    def emit(self, effect: Notify) -> None: ...


def notice_ids(
    key: str, reason: NotifyReason, level: int, at: datetime, to: tuple[str, ...]
) -> tuple[uuid.UUID, ...]:
    """Deterministic notification ids (a rebuild yields the same; receivers dedupe on them)."""
    return tuple(uuid.uuid5(NOTICE_NS, f"{key}|{reason.value}|{level}|{at.isoformat()}|{p}") for p in to)


def notified(
    at: datetime,
    reason: NotifyReason,
    to: tuple[str, ...],
    key: str,
    text_key: str,
    detail: Mapping[str, str],
    *,
    incident_id: str | None = None,
    unit_id: str | None = None,
    level: int = 0,
    call_101: bool = False,
    evacuate: str | None = None,
) -> Notified:
    """The `Notified` fact of one notice to `to`; `key` (with reason, level and time) makes its ids."""
    return Notified(
        at=at,
        reason=reason,
        incident_id=incident_id,
        unit_id=unit_id,
        level=level,
        person_ids=to,
        notification_ids=notice_ids(key, reason, level, at, to),
        call_101=call_101,
        evacuate=evacuate,
        text_key=text_key,
        detail=dict(detail),
    )


def announce(tx: Recorder, fact: Notified) -> None:
    """Record a built notice and emit its `Notify`."""
    tx.record(fact)
    tx.emit(Notify(fact))


def notice(
    tx: Recorder,
    reason: NotifyReason,
    to: tuple[str, ...],
    key: str,
    text_key: str,
    detail: Mapping[str, str],
    *,
    incident_id: str | None = None,
    unit_id: str | None = None,
    level: int = 0,
    call_101: bool = False,
    evacuate: str | None = None,
    to_nobody: bool = False,
) -> None:
    """Build a notice at `tx.now`, record it and emit `Notify`. Nobody to tell: nothing, unless
    `to_nobody` (the fact itself matters, e.g. it counts an after-care reminder as sent)."""
    if not to and not to_nobody:
        return
    fact = notified(
        tx.now,
        reason,
        to,
        key,
        text_key,
        detail,
        incident_id=incident_id,
        unit_id=unit_id,
        level=level,
        call_101=call_101,
        evacuate=evacuate,
    )
    announce(tx, fact)
