"""What the cores ask the shell to do (effect data), and `Tx`, which collects one step's.

Every core step returns its new state and a list of these, in order; the shell executes
them (`Record` facts are committed first, everything else only after the commit).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from stilalarm.console.facts import Fact, Notified
from stilalarm.wire.messages import Feedback


@dataclass(frozen=True)
class Record:
    """Append this fact to the event log (in the batch's transaction)."""

    fact: Fact


@dataclass(frozen=True)
class Notify:
    """Deliver notifications (rendered per person by the shell) for this recorded fact."""

    notice: Notified


@dataclass(frozen=True)
class SendReceipt:
    """Tell the unit its event is stored (only ever executed after the commit)."""

    unit_id: str
    event_id: uuid.UUID
    incident_id: str | None
    duplicate: bool = False


@dataclass(frozen=True)
class PublishIncident:
    """Publish the incident's retained IncidentState."""

    incident_id: str


@dataclass(frozen=True)
class ClearIncident:
    """Clear the incident's retained topic (empty retained payload)."""

    incident_id: str


@dataclass(frozen=True)
class UnitFeedback:
    """Set a unit's feedback LED."""

    unit_id: str
    incident_id: str | None
    feedback: Feedback


@dataclass(frozen=True)
class UnitTestMode:
    """Switch a unit's test mode on or off."""

    unit_id: str
    on: bool
    until: datetime | None
    campaign_id: str | None
    by: str | None


@dataclass(frozen=True)
class Page:
    """Signal (level > 0) or stop signalling (0) an incident on a lead pager unit."""

    unit_id: str
    incident_id: str
    level: int


@dataclass(frozen=True)
class Reply:
    """Answer a person's command; `text_key`/`values` render the reason in their language."""

    person_id: str
    cmd_id: uuid.UUID
    ok: bool
    code: str
    text_key: str = "reply_ok"
    values: Mapping[str, str] = field(default_factory=dict)
    incident_id: str | None = None
    campaign_id: str | None = None
    visit_id: str | None = None


@dataclass(frozen=True)
class PublishPresence:
    """Publish a person's retained PresenceState."""

    person_id: str


@dataclass(frozen=True)
class PublishRisk:
    """Publish a running risky conversation's retained RiskState, one copy for each of `to`."""

    risk_id: str
    to: tuple[str, ...]


@dataclass(frozen=True)
class ClearRisk:
    """Clear a risky conversation's retained copies of `to` (cancelled, or its window ended)."""

    risk_id: str
    to: tuple[str, ...]


@dataclass(frozen=True)
class PublishHealth:
    """Publish a unit's retained UnitHealth (supervision's own effect)."""

    unit_id: str


Effect = (
    Record
    | Notify
    | SendReceipt
    | PublishIncident
    | ClearIncident
    | UnitFeedback
    | UnitTestMode
    | Page
    | Reply
    | PublishPresence
    | PublishRisk
    | ClearRisk
)
"""What the incident engine emits."""

SupEffect = Effect | PublishHealth
"""What supervision emits, and so any effect of the cores (the world's and the service's type)."""

S = TypeVar("S")
E = TypeVar("E")


class Tx(Generic[S, E]):
    """Collects the facts and effects of one step, folding each fact into `s` as it is recorded.

    `evolve` None: the facts are only collected (the shell's own notices, folded by nobody)."""

    def __init__(self, state: S, now: datetime, evolve: Callable[[S, Fact], S] | None = None) -> None:
        self.s = state
        self.now = now
        self.effects: list[E | Record] = []
        self._evolve = evolve

    def record(self, fact: Fact) -> None:
        """Fold the fact in and emit its `Record`."""
        if self._evolve is not None:
            self.s = self._evolve(self.s, fact)
        self.effects.append(Record(fact))

    def emit(self, effect: E) -> None:
        self.effects.append(effect)
