"""Issue #11, findings 3 and 4, repeated with real processes: nobody silences an alarm.

Real mosquitto (the project's config), the real `alarm-console serve`, real clients: a
reception login that resolves every new incident as a false alarm within milliseconds
(finding 3), and test mode used to swallow real alarms (finding 4): a `test` event for a
unit without an open window (published with `mosquitto_pub` and the unit's own
credentials), `test start --all --minutes 240`, and a second press within 60 s of a test
press after the window was opened again, pressed on a real `alarm-unit --sim` process.

The site escalates in seconds (stilalarm.devkit.servicerun.FAST_SITE: levels at 0 / 1 / 2 s), so
the deputy level and "Bel 101" fire within the test; timeouts are for liveness only.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from stilalarm.devkit.servicerun import FAST_SITE, ScriptedUnit
from stilalarm.devkit.unitdoubles import JsonLineProcess
from stilalarm.inventory.load import parse_site
from stilalarm.wire.identity import client_id as cid_for
from stilalarm.wire.link import Link
from stilalarm.wire.messages import (
    CommandReply,
    EventKind,
    IncidentState,
    IncidentStatus,
    IncidentTimeline,
    Notification,
    NotifyReason,
    Registration,
    ResolveCmd,
    UnitEvent,
    encode,
    parse,
    utcnow,
)
from stilalarm.wire.topics import Topics
from tests.harness import mosquitto_pub, wait_until
from tests.rig import ConsoleRig

SITE = parse_site(FAST_SITE)
T = Topics(SITE.site.id)
BIN = Path(sys.executable).parent


class Rig(ConsoleRig):
    def __init__(self, dir: Path) -> None:
        super().__init__(dir)
        self.stops: list[object] = []

    def stop(self) -> None:
        for x in reversed(self.stops):
            if isinstance(x, JsonLineProcess):
                x.close()
            elif isinstance(x, ScriptedUnit | Link):
                x.stop()
        super().stop()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return super().cli(*args, "--broker-dir", str(self.broker.dir))

    def unit_process(self, unit_id: str) -> JsonLineProcess:
        """The real firmware (`alarm-unit run --sim --control-stdin`) with its rendered config."""
        argv = [
            str(BIN / "alarm-unit"),
            "run",
            "--config",
            str(self.broker.dir / "units" / f"{unit_id}.json"),
        ]
        argv += ["--state-dir", str(self.dir / f"state-{unit_id}"), "--sim", "--control-stdin"]
        p = JsonLineProcess(argv, self.dir / f"unit-{unit_id}.log")
        self.stops.append(p)
        p.wait_for("link", state="up")
        return p


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.stop()


class ResolvingAttacker:
    """A reception login that resolves every open incident it sees as a false alarm, at once."""

    def __init__(self, rig: Rig, person: str) -> None:
        self.person = person
        self.replies: list[CommandReply] = []
        self.tried: set[str] = set()
        self._lock = threading.Lock()
        creds = rig.broker.creds(f"person-{person}")
        self.link = Link(creds, client_id=cid_for(creds.username, uuid.uuid4().hex[:6]), clean_session=True)
        self.link.subscribe(T.all_incidents(), self._on_incident)
        self.link.subscribe(T.person_reply(person), self._on_reply)
        rig.stops.append(self.link)
        self.link.start()
        assert self.link.wait_connected(5)

    def _on_incident(self, _topic: str, payload: bytes) -> None:
        if not payload:
            return
        st = parse(IncidentState, payload)
        if st.status is IncidentStatus.RESOLVED:
            return
        with self._lock:
            self.tried.add(st.incident_id)
        cmd = ResolveCmd(
            cmd_id=uuid.uuid4(),
            person_id=self.person,
            issued_at=utcnow(),
            incident_id=st.incident_id,
            registration=Registration(false_alarm=True, note="vals alarm"),
        )
        self.link.publish(T.person_cmd(self.person), encode(cmd), qos=1)

    def _on_reply(self, _topic: str, payload: bytes) -> None:
        with self._lock:
            self.replies.append(parse(CommandReply, payload))


def test_reception_resolving_every_new_incident_as_false_alarm_silences_nothing(rig: Rig) -> None:
    attacker = ResolvingAttacker(rig, "els")  # reception: allowed to help, never paged at level 1
    unit = ScriptedUnit(rig.broker.creds("unit-spreekkamer-1"), "spreekkamer-1").start()
    rig.stops.append(unit)
    ev = unit.press()
    wait_until(lambda: unit.receipt_for(ev.event_id) is not None, 10, "the receipt")
    receipt = unit.receipt_for(ev.event_id)
    assert receipt is not None and receipt.incident_id is not None
    inc = receipt.incident_id

    wait_until(lambda: bool(attacker.replies), 10, "the console's answer to the attacker")
    wait_until(lambda: rig.alarm_notes("dirk"), 10, "level 2: the deputy")
    wait_until(lambda: any(n.call_101 for n in rig.alarm_notes("els")), 10, "level 3: everyone, Bel 101")
    top = next(n for n in rig.alarm_notes("els") if n.call_101)
    assert top.level == 3 and "Bel 101" in top.body
    assert rig.incident(inc).status is IncidentStatus.OPEN and rig.incident(inc).resolved_by is None
    # every attempt was refused, with the reason in the attacker's language (Dutch), and logged
    assert inc in attacker.tried
    assert attacker.replies and all(not r.ok and r.code == "not_authorised" for r in attacker.replies)
    assert "pas afgesloten worden nadat iemand 'Ik kom' heeft bevestigd" in attacker.replies[0].reason
    rejected = rig.facts("command_rejected")
    assert rejected and all(f["person_id"] == "els" and f["incident_id"] == inc for f in rejected)
    assert "rejected command" in rig.console.log() and "resolve_needs_ack" in rejected[0]["detail"]  # type: ignore[operator]
    assert rig.facts("resolved") == []

    # after the lead's "ik kom", reception still may not close it; the lead may
    assert rig.cli("ack", inc, "--as", "an").returncode == 0
    wait_until(lambda: rig.incident(inc).status is IncidentStatus.ACKNOWLEDGED, 5, "acknowledged")
    again = rig.cli("resolve", inc, "--as", "els", "--false-alarm", "--note", "niets aan de hand")
    assert again.returncode == 1 and "Enkel wie incident" in again.stderr
    assert rig.incident(inc).status is IncidentStatus.ACKNOWLEDGED
    done = rig.cli("resolve", inc, "--as", "an", "--false-alarm", "--note", "per vergissing gedrukt")
    assert done.returncode == 0, done.stderr
    wait_until(lambda: rig.incident(inc).status is IncidentStatus.RESOLVED, 5, "resolved by the lead")
    assert rig.incident(inc).resolved_by == "an"


def test_test_event_from_a_unit_without_an_open_window_is_a_real_alarm(rig: Rig) -> None:
    now = utcnow()
    fake_test = UnitEvent(
        event_id=uuid.uuid4(),
        unit_id="balie-1",
        kind=EventKind.TEST,
        button_id="knop",
        seq=1,
        boot_id=uuid.uuid4(),
        occurred_at=now,
        sent_at=now,
        campaign_id="test-20260101-1",
    )
    res = mosquitto_pub(rig.broker.creds("unit-balie-1"), T.unit_event("balie-1"), encode(fake_test))
    assert res.returncode == 0, res.stderr

    wait_until(lambda: rig.alarm_notes("chris"), 10, "the lead of Balie 1 paged")
    note = rig.alarm_notes("chris")[0]
    assert note.level == 1 and note.title.startswith("ALARM Balie 1") and note.incident_id is not None
    inc = note.incident_id
    assert rig.incident(inc).status is IncidentStatus.OPEN
    (alarm,) = rig.facts("alarm_received")
    assert alarm["test_refused"] == "no_window" and alarm["event_id"] == str(fake_test.event_id)
    assert rig.facts("test_result") == []

    def refused_in_timeline() -> bool:
        lines = [parse(IncidentTimeline, p) for p in rig.seen.on(T.timeline(inc)) if p]
        return any(
            e.kind == "test_refused" and "geen testvenster" in e.text for t in lines for e in t.entries
        )

    wait_until(refused_in_timeline, 5, "the reason in the incident's timeline")
    wait_until(lambda: rig.alarm_notes("bart"), 10, "and it escalates like any alarm")


def test_test_start_all_opens_no_window_so_a_press_is_a_real_alarm(rig: Rig) -> None:
    unit = rig.unit_process("balie-1")
    wait_until(lambda: any(b"balie-1" in p for p in rig.seen.on(T.unitstate("balie-1"))), 10, "unit health")
    out = rig.cli("test", "start", "--all", "--minutes", "240", "--as", "fien")
    assert out.returncode == 0, out.stderr

    unit.send("press balie-1")  # the first press of a button after a site-wide "test"
    [stored] = unit.wait_for("alarm_stored")
    [rec] = unit.wait_for("receipt", event_id=stored["event_id"])
    assert rec["incident_id"] is not None and rec["kind"] == "alarm"
    wait_until(lambda: rig.alarm_notes("chris"), 10, "the lead paged")
    assert unit.find("test_mode", on=True) == [] and unit.find("test_stored") == []
    assert rig.facts("campaign_started") == []
    # it only listed what is due, and told facilities how to open windows one by one (in English)
    assert "opens no test windows" in out.stdout and "balie-1" in out.stdout
    assert "test start --unit UNIT --as fien" in out.stdout


def test_second_press_within_60_s_of_a_test_press_is_an_alarm_and_the_lead_sees_each_test(rig: Rig) -> None:
    unit = rig.unit_process("balie-1")
    opened = rig.cli("test", "start", "--unit", "balie-1", "--as", "fien")
    assert opened.returncode == 0, opened.stderr
    unit.wait_for("test_mode", on=True)
    unit.send("press balie-1")
    [test] = unit.wait_for("test_stored")
    [rec] = unit.wait_for("receipt", event_id=test["event_id"])
    assert rec["incident_id"] is None
    unit.wait_for("led", pattern="test_ok")

    # facilities open the window again (it seemed not to work); the button was just tested
    again = rig.cli("test", "start", "--unit", "balie-1", "--as", "fien")
    assert again.returncode == 0, again.stderr
    unit.wait_for("test_mode", n=2, on=True)
    unit.wait_for("release")
    unit.send("press balie-1")  # seconds after the test press: a real alarm
    [alarm] = unit.wait_for("alarm_stored")
    [rec2] = unit.wait_for("receipt", event_id=alarm["event_id"])
    assert rec2["incident_id"] is not None
    wait_until(lambda: rig.alarm_notes("chris"), 10, "the lead paged for the second press")
    assert rig.alarm_notes("chris")[0].incident_id == rec2["incident_id"]
    assert [f["button_id"] for f in rig.facts("test_result")] == ["knop"]

    def test_notice() -> list[Notification]:
        return [n for n in rig.notes("chris") if n.title == "TEST in Balie 1 (technische dienst)"]

    wait_until(lambda: bool(test_notice()), 10, "'TEST in Balie 1' to the room's lead")
    (n,) = test_notice()
    assert n.reason is NotifyReason.INFO and n.incident_id is None and "Fien Vermeulen" in n.body
    assert all(a.incident_id == rec2["incident_id"] for a in rig.alarm_notes("chris"))  # none for the test
