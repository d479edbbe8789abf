"""What the broker delivered so far: `Received`, immutable, one new instance per message."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from stilalarm.wire.messages import (
    ConsoleStatus,
    IncidentState,
    IncidentTimeline,
    Notification,
    NotifyReason,
    PresenceState,
    RegistrationTodo,
    RiskState,
    UnitHealth,
)

ROUTING_REASONS = frozenset({NotifyReason.ALARM, NotifyReason.ESCALATION, NotifyReason.REPEAT})
"""Notifications that put an alarm on this person's screen."""
SHOWN_IDS = 512
"""How many notification ids a console remembers, to drop a copy the service sends again (a
notification not confirmed before a restart is re-sent with the same id, docs/CONSOLE.md)."""


@dataclass(frozen=True)
class Received:
    """Everything the broker delivered so far; immutable, each update returns a new instance.

    `gen` counts connections: retained items re-delivered after a reconnect are marked
    with the new generation, and `pruned()` drops those that were not (cleared meanwhile).
    """

    incidents: Mapping[str, IncidentState] = field(default_factory=dict)
    timelines: Mapping[str, IncidentTimeline] = field(default_factory=dict)
    units: Mapping[str, UnitHealth] = field(default_factory=dict)
    presence: Mapping[str, PresenceState] = field(default_factory=dict)
    console: ConsoleStatus | None = None
    console_heard: datetime | None = None
    """When this console last heard the service's status or beat, by this console's own clock
    (never the service's `at`: the two PCs' clocks may differ)."""
    routed: Mapping[str, Notification] = field(default_factory=dict)
    """Latest alarm/escalation/repeat notification to me, per incident."""
    link_up: bool = False
    ever_up: bool = False
    down_since: datetime | None = None
    gen: int = 0
    seen: Mapping[str, int] = field(default_factory=dict)
    todo: RegistrationTodo | None = None
    """The registrations I may complete that lack the lead's part (retained, my own topic)."""
    risks: Mapping[str, RiskState] = field(default_factory=dict)
    """The running risky conversations I was told of: my retained copies (docs/RISKY.md)."""
    shown: tuple[uuid.UUID, ...] = ()
    """The ids of the last `SHOWN_IDS` notifications to me (kept across reconnects)."""

    def _seen(self, key: str) -> dict[str, int]:
        return {**self.seen, key: self.gen}

    def with_incident(self, st: IncidentState) -> Received:
        """Keep the highest (term, version) per incident (an older one is only marked as seen): a
        former active console's state never replaces the active's (docs/HA.md)."""
        key = f"incident/{st.incident_id}"
        old = self.incidents.get(st.incident_id)
        if old is not None and (st.term, st.version) < (old.term, old.version):
            return replace(self, seen=self._seen(key))
        return replace(self, incidents={**self.incidents, st.incident_id: st}, seen=self._seen(key))

    def without_incident(self, incident_id: str) -> Received:
        """An empty retained payload: the incident (and its routing) was cleared."""
        return replace(
            self,
            incidents={k: v for k, v in self.incidents.items() if k != incident_id},
            routed={k: v for k, v in self.routed.items() if k != incident_id},
        )

    def with_timeline(self, tl: IncidentTimeline) -> Received:
        key = f"timeline/{tl.incident_id}"
        old = self.timelines.get(tl.incident_id)
        if old is not None and tl.version < old.version:
            return replace(self, seen=self._seen(key))
        return replace(self, timelines={**self.timelines, tl.incident_id: tl}, seen=self._seen(key))

    def without_timeline(self, incident_id: str) -> Received:
        return replace(self, timelines={k: v for k, v in self.timelines.items() if k != incident_id})

    def with_unit(self, h: UnitHealth) -> Received:
        return replace(self, units={**self.units, h.unit_id: h}, seen=self._seen(f"unitstate/{h.unit_id}"))

    def without_unit(self, unit_id: str) -> Received:
        return replace(self, units={k: v for k, v in self.units.items() if k != unit_id})

    def with_presence(self, p: PresenceState) -> Received:
        return replace(
            self, presence={**self.presence, p.person_id: p}, seen=self._seen(f"presence/{p.person_id}")
        )

    def without_presence(self, person_id: str) -> Received:
        return replace(self, presence={k: v for k, v in self.presence.items() if k != person_id})

    def with_todo(self, todo: RegistrationTodo) -> Received:
        return replace(self, todo=todo, seen=self._seen("registrations"))

    def without_todo(self) -> Received:
        """An empty retained payload: nothing left to complete."""
        return replace(self, todo=None)

    def with_risk(self, r: RiskState) -> Received:
        """My retained copy of a running risky conversation (announced, or now confirmed)."""
        return replace(self, risks={**self.risks, r.risk_id: r}, seen=self._seen(f"risk/{r.risk_id}"))

    def without_risk(self, risk_id: str) -> Received:
        """An empty retained payload: the conversation was cancelled or its window ended."""
        return replace(self, risks={k: v for k, v in self.risks.items() if k != risk_id})

    def with_console(self, cs: ConsoleStatus | None, heard_at: datetime | None = None) -> Received:
        """The service's status or beat, heard at `heard_at` by this console's clock. A retained
        status delivered on (re)connect counts as heard then: if the service is hung, no beat
        follows and it shows as gone MISSED_BEATS beats later."""
        return replace(self, console=cs, console_heard=heard_at, seen=self._seen("console"))

    def has_shown(self, n: Notification) -> bool:
        """`n` is a copy of a notification already taken (the same `notification_id`)."""
        return n.notification_id in self.shown

    def with_notification(self, n: Notification) -> Received:
        """Remember its id, and routing notifications (alarm, escalation, repeat) per incident (a
        risky conversation's notices are only shown: its list comes from the retained state)."""
        shown = (*self.shown, n.notification_id)[-SHOWN_IDS:]
        if n.reason not in ROUTING_REASONS or n.incident_id is None:
            return replace(self, shown=shown)
        return replace(self, routed={**self.routed, n.incident_id: n}, shown=shown)

    def connected(self) -> Received:
        """The link is up (again): a new generation of retained state starts arriving."""
        return replace(self, link_up=True, ever_up=True, down_since=None, gen=self.gen + 1)

    def disconnected(self, now: datetime) -> Received:
        if not self.link_up:
            return self
        return replace(self, link_up=False, down_since=now)

    def pruned(self) -> Received:
        """After a resync: drop retained items the broker did not deliver again (cleared meanwhile)."""

        def keep(prefix: str, key: str) -> bool:
            return self.seen.get(f"{prefix}/{key}", -1) >= self.gen

        incidents = {k: v for k, v in self.incidents.items() if keep("incident", k)}
        return replace(
            self,
            incidents=incidents,
            timelines={k: v for k, v in self.timelines.items() if keep("timeline", k)},
            units={k: v for k, v in self.units.items() if keep("unitstate", k)},
            presence={k: v for k, v in self.presence.items() if keep("presence", k)},
            risks={k: v for k, v in self.risks.items() if keep("risk", k)},
            console=self.console if self.seen.get("console", -1) >= self.gen else None,
            todo=self.todo if self.seen.get("registrations", -1) >= self.gen else None,
            routed={k: v for k, v in self.routed.items() if k in incidents},
        )
