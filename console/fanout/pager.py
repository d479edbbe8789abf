"""The lead's pager unit: a `PageCmd` on `unit/<id>/cmd` through an injected publish function."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from console.fanout.channels import Clock, SystemClock, TransientError
from inventory.model import ChannelKind, Person, Site, UnitRole
from wire.messages import Notification, NotifyReason, PageCmd, encode
from wire.topics import Topics

Publish = Callable[[str, bytes], object]
"""`publish(topic, payload)`, e.g. `lambda t, p: link.publish(t, p)`. If it returns paho's
`MQTTMessageInfo`, the channel waits for the broker's PUBACK before calling it delivered."""

_NS = uuid.UUID("5d0c5a3e-9a55-4d0b-9a3b-6c1f6f0a1e07")

_SIGNAL = frozenset({NotifyReason.ALARM, NotifyReason.ESCALATION, NotifyReason.REPEAT})
_SILENCE = frozenset({NotifyReason.ACKNOWLEDGED, NotifyReason.INFO})


def page_level(n: Notification) -> int | None:
    """Level to signal for `n`: its level for alarms, 0 (silence) once acknowledged or resolved,
    None when the pager has nothing to do (no incident, reminders, faults)."""
    if n.incident_id is None:
        return None
    if n.reason in _SIGNAL:
        return max(n.level, 1)
    if n.reason in _SILENCE:
        return 0
    return None


def pager_units(site: Site, person_id: str) -> tuple[str, ...]:
    """Ids of the lead pager units of a person."""
    return tuple(u.id for u in site.units if u.role is UnitRole.LEAD and u.person == person_id)


class PagerChannel:
    """Signals (or silences) the person's lead pager unit(s) for the notification's incident."""

    kind = ChannelKind.PAGER
    name = ChannelKind.PAGER.value

    def __init__(
        self, site: Site, publish: Publish, *, ack_timeout_s: float = 5.0, clock: Clock | None = None
    ) -> None:
        self.site = site
        self.topics = Topics(site.site.id)
        self.publish = publish
        self.ack_timeout_s = ack_timeout_s
        self.clock = clock or SystemClock()

    @property
    def attempt_timeout_s(self) -> float:
        return self.ack_timeout_s + 5.0

    def applies(self, notification: Notification, person: Person) -> bool:
        return page_level(notification) is not None and bool(pager_units(self.site, person.id))

    def commands(self, n: Notification, person: Person) -> list[tuple[str, PageCmd]]:
        """(topic, command) per pager unit; the command id is stable across retries."""
        level = page_level(n)
        if level is None or n.incident_id is None:
            return []
        return [
            (
                self.topics.unit_cmd(unit),
                PageCmd(
                    cmd_id=uuid.uuid5(_NS, f"{n.notification_id}|{unit}"),
                    unit_id=unit,
                    issued_at=self.clock.now(),
                    incident_id=n.incident_id,
                    level=level,
                ),
            )
            for unit in pager_units(self.site, person.id)
        ]

    def send(self, notification: Notification, person: Person) -> None:
        for topic, cmd in self.commands(notification, person):
            info = self.publish(topic, encode(cmd))
            wait = getattr(info, "wait_for_publish", None)
            if wait is None:
                continue
            try:
                wait(self.ack_timeout_s)
            except (RuntimeError, ValueError) as exc:
                raise TransientError(f"page to {cmd.unit_id} not published: {exc}") from None
            if not info.is_published():  # type: ignore[attr-defined]
                raise TransientError(f"broker did not confirm the page to {cmd.unit_id} in time")
