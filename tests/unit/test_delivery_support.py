"""Shared helpers of the delivery tests: site variants, notifications, a fake clock, fake channels."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from stilalarm.console.delivery.channel import Delivery, PermanentError, TransientError
from stilalarm.inventory.model import Site
from stilalarm.inventory.people import ChannelKind, Person
from stilalarm.wire.messages import Notification, NotifyReason

AT = datetime(2025, 3, 3, 9, 42, 5, tzinfo=UTC)  # 10:42:05 in Brussels


def site_with(
    site: Site,
    *,
    smtp: dict[str, Any] | None = None,
    people: dict[str, dict[str, Any]] | None = None,
    delivery: dict[str, Any] | None = None,
) -> Site:
    """The example site with an [smtp] section, per-person changes and a delivery policy, validated."""
    data = site.model_dump(mode="json")
    if smtp is not None:
        data["smtp"] = smtp
    for p in data["people"]:
        p.update((people or {}).get(p["id"], {}))
    if delivery is not None:
        data["delivery"] = delivery
    return Site.model_validate(data)


def note(
    person: str = "an",
    *,
    reason: NotifyReason = NotifyReason.ALARM,
    level: int = 1,
    room: str | None = "spreekkamer-1",
    call_101: bool = False,
    evacuate: str | None = None,
    incident: str | None = "inc-20250303-001",
    title: str = "ALARM",
    body: str = "alarm",
    at: datetime = AT,
) -> Notification:
    """A notification as the console service produces it."""
    return Notification(
        notification_id=uuid.uuid4(),
        person_id=person,
        reason=reason,
        incident_id=incident,
        unit_id=room,
        room_id=room,
        level=level,
        call_101=call_101,
        evacuate=evacuate,
        title=title,
        body=body,
        at=at,
    )


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> datetime:
        return AT + timedelta(seconds=self.t - 1000.0)

    def monotonic(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class FakeChannel:
    """A scripted channel: each send pops the next behaviour ('ok', 'transient', 'permanent', 'hang')."""

    def __init__(
        self,
        kind: ChannelKind,
        script: list[str] | None = None,
        timeout_s: float = 5.0,
        durable: bool = False,
    ) -> None:
        self.kind = kind
        self.name = kind.value
        self.durable = durable
        self.self_bounded = False
        self.attempt_timeout_s = timeout_s
        self.script = list(script or [])
        self.sent: list[tuple[uuid.UUID, str]] = []
        self.threads: list[str] = []  # the thread of each send
        self.release = threading.Event()
        self.lock = threading.Lock()

    def applies(self, notification: Notification, person: Person) -> bool:
        return True

    def address(self, person: Person) -> str:
        return person.id

    def send(self, item: Delivery) -> None:
        with self.lock:
            what = self.script.pop(0) if self.script else "ok"
            self.threads.append(threading.current_thread().name)
        if what == "transient":
            raise TransientError("server busy")
        if what == "permanent":
            raise PermanentError("address refused")
        if what == "hang":
            self.release.wait(30)
        if what.startswith("sleep:"):
            time.sleep(float(what.split(":")[1]))
        with self.lock:
            self.sent.append((item.notification_id, item.person_id))


def test_site_with_validates_changes(site: Site) -> None:
    s = site_with(
        site,
        smtp={"host": "127.0.0.1", "port": 2525, "security": "none", "from_addr": "alarm@example.org"},
        people={"an": {"email": "an@example.org"}},
        delivery={"attempts": 2, "backoff_s": 0.1, "queue_size": 10, "fault_after_failures": 2},
    )
    assert s.smtp is not None and s.smtp.port == 2525
    assert s.person("an").channels_at(3) >= {ChannelKind.EMAIL, ChannelKind.PAGER}
    assert s.delivery.attempts == 2
