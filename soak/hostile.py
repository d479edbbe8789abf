"""The hostile client: malformed input, spoofed identities, a flood (real MQTT clients).

Everything it sends that could take effect is written to `hostile.jsonl` (event ids, command ids,
what it tried) so the checker can show that none of it did (invariant 8).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from soak.record import JsonlWriter
from soak.site import FLOOD_UNIT, HOSTILE_PERSON, HOSTILE_UNIT
from stilalarm.broker_config.local import LocalBroker
from stilalarm.wire.identity import client_id
from stilalarm.wire.link import Link
from stilalarm.wire.messages import (
    AckCmd,
    EventKind,
    IncidentState,
    Registration,
    ResolveCmd,
    UnitEvent,
    encode,
    utcnow,
)
from stilalarm.wire.topics import Topics
from tests.flood import Flooder

FLOOD_N = 2000  # alarm events and heartbeats, each, per flood


class Hostile:
    def __init__(self, broker: LocalBroker, out: Path, victims: list[str]) -> None:
        self.broker = broker
        self.topics = Topics(broker.site.site.id)
        self.victims = victims  # real units whose identity it tries to use
        self.writer = JsonlWriter(out / "hostile.jsonl")
        self.n = 0

    def close(self) -> None:
        self.writer.close()

    def _link(self, user: str) -> Link:
        self.n += 1
        link = Link(
            self.broker.creds(user), client_id=client_id(user, f"hostile-{self.n}"), clean_session=True
        )
        link.start()
        if not link.wait_connected(10):
            link.stop()
            raise TimeoutError(f"hostile client {user} could not connect (broker down?)")
        return link

    def _note(self, action: str, **kw: object) -> None:
        self.writer.write({"t": round(time.time(), 6), "action": action, **kw})

    def _event(self, unit_id: str) -> UnitEvent:
        now = utcnow()
        return UnitEvent(
            event_id=uuid.uuid4(), unit_id=unit_id, kind=EventKind.ALARM, button_id="knop",
            seq=1, boot_id=uuid.uuid4(), occurred_at=now, sent_at=now,
        )  # fmt: skip

    def malformed(self, victim: str) -> None:
        """With its own unit login: garbage, wrong schema, oversized, and a real alarm event that
        names another unit in its payload (the console must refuse it: the topic decides)."""
        link = self._link(f"unit-{HOSTILE_UNIT}")
        topic = self.topics.unit_event(HOSTILE_UNIT)
        spoofed = self._event(victim)
        oversized = encode(self._event(HOSTILE_UNIT).model_copy(update={"detail": ""})).replace(
            b'"detail":""', b'"detail":"' + b"x" * 20_000 + b'"'
        )
        payloads = [
            b"not json",
            b"{}",
            b'{"v":1}',
            b"\xff\xfe\x00",
            b'{"v":1,"seq":NaN}',
            oversized,
            encode(spoofed),
        ]
        for p in payloads:
            link.publish(topic, p, qos=1).wait_for_publish(5)
        self._note(
            "malformed", topic=topic, n=len(payloads), event_ids=[str(spoofed.event_id)], victim=victim
        )
        link.stop()

    def spoof(self, victim: str, open_incidents: list[IncidentState]) -> None:
        """Publish as another unit (ACL), ack as another person (ACL), ack and resolve with a
        payload naming someone else, and resolve without having acknowledged."""
        unit = self._link(f"unit-{HOSTILE_UNIT}")
        ev = self._event(victim)
        unit.publish(self.topics.unit_event(victim), encode(ev), qos=1).wait_for_publish(5)
        self._note("unit_as_other_unit", victim=victim, event_ids=[str(ev.event_id)])
        unit.stop()
        me = HOSTILE_PERSON
        person = self._link(f"person-{me}")
        targets = [i.incident_id for i in open_incidents][:3]
        cmd_ids: list[str] = []
        for iid in targets:
            for who, topic_person, kind in (("an", "an", "ack"), ("an", me, "ack"), (me, me, "resolve")):
                cmd: AckCmd | ResolveCmd
                if kind == "ack":
                    cmd = AckCmd(cmd_id=uuid.uuid4(), person_id=who, issued_at=utcnow(), incident_id=iid)
                else:
                    cmd = ResolveCmd(
                        cmd_id=uuid.uuid4(), person_id=who, issued_at=utcnow(), incident_id=iid,
                        registration=Registration(false_alarm=True, note="hostile"),
                    )  # fmt: skip
                person.publish(self.topics.person_cmd(topic_person), encode(cmd), qos=1).wait_for_publish(5)
                cmd_ids.append(str(cmd.cmd_id))
        self._note("person_spoof", person=me, incidents=targets, cmd_ids=cmd_ids)
        person.stop()

    def flood(self) -> None:
        """One unit's login (never pressed by anyone else) floods alarm events and heartbeats."""
        f = Flooder(self.broker.creds(f"unit-{FLOOD_UNIT}"), FLOOD_UNIT).start()
        f.alarms(FLOOD_N)
        f.heartbeats(FLOOD_N)
        deadline = time.monotonic() + 10
        while f.acked() < 2 * FLOOD_N and time.monotonic() < deadline:
            time.sleep(0.05)
        self._note(
            "flood",
            unit=FLOOD_UNIT,
            alarms=FLOOD_N,
            heartbeats=FLOOD_N,
            acked=f.acked(),
            receipts=f.receipts(),
        )
        f.stop()
