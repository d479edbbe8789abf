"""Scripted team leads: real MQTT clients with the people's own logins.

Each incident gets a seeded `Fate` (soak.schedule.fate): acknowledged by one of its team's lead
or deputy after a delay counted from when the leads first saw it (before level 2, before level 3,
after level 3 with repeats, or never), then resolved by the acknowledger. A command that did not
take effect (the console or broker was down) is sent again every `RETRY_S`.
Every command sent is written to `leads.jsonl`.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from soak.record import JsonlWriter
from soak.schedule import TEST_WINDOW_MIN, Fate, fate
from soak.site import FACILITIES, RESPONDERS, room_of
from stilalarm.broker_config.local import LocalBroker
from stilalarm.wire.identity import client_id
from stilalarm.wire.link import Link
from stilalarm.wire.messages import (
    AckCmd,
    ContractError,
    IncidentState,
    IncidentStatus,
    PresenceCmd,
    PresenceState,
    Registration,
    ResolveCmd,
    TestScope,
    TestStartCmd,
    encode,
    parse,
    utcnow,
)
from stilalarm.wire.topics import Topics

RETRY_S = 5.0


@dataclass
class Tracked:
    state: IncidentState
    seen_at: float  # monotonic, first sight
    fate: Fate
    acked_seen_at: float | None = None
    last_ack_sent: float = -1e9
    last_resolve_sent: float = -1e9
    sent: list[str] = field(default_factory=list)


class Leads:
    def __init__(self, broker: LocalBroker, seed: int, out: Path) -> None:
        self.seed = seed
        self.topics = Topics(broker.site.site.id)
        people = [*sorted({p for pair in RESPONDERS.values() for p in pair}), FACILITIES]
        self.links = {
            p: Link(broker.creds(f"person-{p}"), client_id=client_id(f"person-{p}", "soak")) for p in people
        }
        self.writer = JsonlWriter(out / "leads.jsonl")
        self.incidents: dict[str, Tracked] = {}
        self.absent: set[str] = set()  # as the console's retained presence says
        self.present_changed = threading.Condition()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="leads", daemon=True)

    def start(self) -> Leads:
        for link in self.links.values():
            link.start()
        for p, link in self.links.items():
            if not link.wait_connected(10):
                raise TimeoutError(f"lead {p} could not connect")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for link in self.links.values():
            link.stop()
        self.writer.close()

    def on_message(self, topic: str, raw: bytes, _t: float) -> None:
        """The observer's feed: keep the newest state of every incident, and who is absent."""
        if self.topics.parse_tail(topic, "presence") is not None and raw:
            try:
                pr = parse(PresenceState, raw)
            except ContractError:
                return
            with self.present_changed:
                (self.absent.discard if pr.present else self.absent.add)(pr.person_id)
                self.present_changed.notify_all()
            return
        if self.topics.parse_tail(topic, "incident") is None or not raw:
            return
        try:
            st = parse(IncidentState, raw)
        except ContractError:
            return
        with self._lock:
            tr = self.incidents.get(st.incident_id)
            if tr is None:
                responders = RESPONDERS.get(st.room_id or "", RESPONDERS["balie-1"])
                tr = Tracked(st, time.monotonic(), fate(self.seed, st.incident_id, responders))
                self.incidents[st.incident_id] = tr
            elif st.version > tr.state.version:
                tr.state = st
            if tr.state.status is IncidentStatus.ACKNOWLEDGED and tr.acked_seen_at is None:
                tr.acked_seen_at = time.monotonic()

    def open_incidents(self) -> list[IncidentState]:
        with self._lock:
            return [t.state for t in self.incidents.values() if t.state.status is not IncidentStatus.RESOLVED]

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            now = time.monotonic()
            with self._lock:
                todo = list(self.incidents.items())
            for iid, tr in todo:
                st, f = tr.state, tr.fate
                if st.status is IncidentStatus.OPEN and f.ack_after_s is not None:
                    if now >= tr.seen_at + f.ack_after_s and now - tr.last_ack_sent >= RETRY_S:
                        # an absent lead does not answer: the other one of the team does, if present
                        team = RESPONDERS.get(st.room_id or "", RESPONDERS["balie-1"])
                        who = next((p for p in (f.who, *team) if p not in self.absent), None)
                        if who is None:
                            continue
                        tr.last_ack_sent = now
                        self._send(
                            who,
                            AckCmd(cmd_id=uuid.uuid4(), person_id=who, issued_at=utcnow(), incident_id=iid),
                            f,
                        )
                elif st.status is IncidentStatus.ACKNOWLEDGED and tr.acked_seen_at is not None:
                    who = st.acknowledged_by if st.acknowledged_by in self.links else f.who
                    if now >= tr.acked_seen_at + f.resolve_after_s and now - tr.last_resolve_sent >= RETRY_S:
                        tr.last_resolve_sent = now
                        reg = Registration(false_alarm=True, note="soak")
                        cmd = ResolveCmd(
                            cmd_id=uuid.uuid4(),
                            person_id=who,
                            issued_at=utcnow(),
                            incident_id=iid,
                            registration=reg,
                        )
                        self._send(who, cmd, f)

    def open_test_window(self, unit: str, scope: str = "unit") -> None:
        """Facilities open the test window of one unit, or of its room (TEST_WINDOW_MIN minutes)."""
        room = scope == "room"
        cmd = TestStartCmd(
            cmd_id=uuid.uuid4(), person_id=FACILITIES, issued_at=utcnow(),
            scope=TestScope.ROOM if room else TestScope.UNIT, target=room_of(unit) if room else unit,
            minutes=TEST_WINDOW_MIN,
        )  # fmt: skip
        self.links[FACILITIES].publish(self.topics.person_cmd(FACILITIES), encode(cmd), qos=1)
        self.writer.write(
            {"t": round(time.time(), 6), "person": FACILITIES, "kind": cmd.kind, "unit": unit,
             "scope": scope, "target": cmd.target, "incident_id": None, "cmd_id": str(cmd.cmd_id),
             "fate": None}
        )  # fmt: skip

    def set_present(self, person: str, present: bool, timeout: float) -> bool:
        """The person marks themselves present or absent, sent again every RETRY_S until the
        console's retained presence says so; False if that did not happen within `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            cmd = PresenceCmd(cmd_id=uuid.uuid4(), person_id=person, issued_at=utcnow(), present=present)
            self.links[person].publish(self.topics.person_cmd(person), encode(cmd), qos=1)
            self.writer.write(
                {"t": round(time.time(), 6), "person": person, "kind": cmd.kind, "present": present,
                 "incident_id": None, "cmd_id": str(cmd.cmd_id), "fate": None}
            )  # fmt: skip
            with self.present_changed:
                until = min(deadline, time.monotonic() + RETRY_S)
                while (person in self.absent) == present and time.monotonic() < until:
                    self.present_changed.wait(until - time.monotonic())
                if (person in self.absent) != present:
                    return True
            if time.monotonic() >= deadline:
                return False

    def _send(self, who: str, cmd: AckCmd | ResolveCmd, f: Fate) -> None:
        self.links[who].publish(self.topics.person_cmd(who), encode(cmd), qos=1)
        self.writer.write(
            {
                "t": round(time.time(), 6),
                "person": who,
                "kind": cmd.kind,
                "incident_id": cmd.incident_id,
                "cmd_id": str(cmd.cmd_id),
                "fate": f.kind,
            }
        )
