"""The real console service (`alarm-console serve`, a subprocess) against a real mosquitto.

The site escalates in seconds (levels at 0 / 1 / 2 s, repeat 5 s; stilalarm.devkit.servicerun.FAST_SITE).
Units are played by `ScriptedUnit` (publish, retransmit until receipted). Timeouts are for
liveness only, never performance assertions.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stilalarm.console.store import Store
from stilalarm.devkit.servicerun import FAST_SITE, ScriptedUnit
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import (
    ConsoleStatus,
    EventKind,
    Feedback,
    FeedbackCmd,
    IncidentStatus,
    LinkState,
    NotifyReason,
    PresenceState,
    parse,
    parse_unit_command,
)
from stilalarm.wire.topics import Topics
from tests.harness import wait_until
from tests.rig import ConsoleRig

SITE = parse_site(FAST_SITE)
T = Topics(SITE.site.id)
CLI = [str(Path(sys.executable).parent / "alarm-console")]


System = ConsoleRig


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    s = System(tmp_path)
    yield s
    s.stop()


def receipted(unit: ScriptedUnit, ev_id: object, timeout: float = 10) -> str:
    wait_until(lambda: unit.receipt_for(ev_id) is not None, timeout, "the receipt")  # type: ignore[arg-type]
    r = unit.receipt_for(ev_id)  # type: ignore[arg-type]
    assert r is not None and r.incident_id is not None
    return r.incident_id


def test_press_escalates_to_deputy_then_everyone_with_101_and_ack_sets_the_led(system: System) -> None:
    unit = system.unit("balie-1")  # team onthaal: chris, then bart, then all leads + reception + prevention
    ev = unit.press()
    inc = receipted(unit, ev.event_id)
    wait_until(lambda: system.alarm_notes("chris"), 5, "the lead's notification")
    assert system.alarm_notes("chris")[0].level == 1 and system.alarm_notes("chris")[0].title.startswith(
        "ALARM Balie 1"
    )
    wait_until(lambda: system.alarm_notes("bart"), 10, "the deputy's notification")
    wait_until(lambda: system.alarm_notes("els"), 10, "level 3 (everyone, Bel 101)")
    top = system.alarm_notes("els")[0]
    assert top.level == 3 and top.call_101 and "Bel 101" in top.body and "Evacueer de wachtzaal" in top.body
    assert top.evacuate == "Wachtzaal"
    fien_en = [n for n in system.notes("fien") if n.incident_id == inc]
    assert fien_en == []  # facilities are not in this chain

    done = system.cli("ack", inc, "--as", "an", "--broker-dir", str(system.broker.dir))
    assert done.returncode == 0, done.stderr
    assert "ok" in done.stdout

    def acknowledged_led() -> bool:
        cmds = [parse_unit_command(p) for p in unit.commands]
        return any(isinstance(c, FeedbackCmd) and c.feedback is Feedback.ACKNOWLEDGED for c in cmds)

    wait_until(acknowledged_led, 5, "FeedbackCmd(acknowledged) at the unit")
    wait_until(lambda: system.incident(inc).status is IncidentStatus.ACKNOWLEDGED, 5, "retained acknowledged")
    assert system.incident(inc).acknowledged_by == "an"
    wait_until(
        lambda: any(n.reason is NotifyReason.ACKNOWLEDGED for n in system.notes("chris")),
        5,
        "'An komt' to the lead",
    )
    # a second ack by someone else is refused with a reason and a non-zero exit
    again = system.cli("ack", inc, "--as", "chris", "--broker-dir", str(system.broker.dir))
    assert again.returncode == 1 and "already_acknowledged" in again.stderr

    res = system.cli(
        *("resolve", inc, "--as", "an", "--type", "verbaal", "--severity", "agressie"),
        *(
            "--police",
            "--pv",
            "HA.12.345",
            "--note",
            "klant kalmeerde",
            "--broker-dir",
            str(system.broker.dir),
        ),
    )
    assert res.returncode == 0, res.stderr
    wait_until(lambda: system.incident(inc).status is IncidentStatus.RESOLVED, 5, "retained resolved")
    out = system.cli("incidents", "--json", "--db", str(system.console.db))
    (row,) = [json.loads(line) for line in out.stdout.splitlines()]
    assert row["incident_id"] == inc and row["status"] == "resolved"
    assert row["registration"]["pv_number"] == "HA.12.345" and row["registration"]["police_called"] is True
    assert "balie-1" in system.cli("units", "--db", str(system.console.db)).stdout


def test_retransmitted_alarm_is_one_incident_and_one_page(system: System) -> None:
    unit = system.unit("spreekkamer-1")
    ev = unit.press()
    for attempt in (2, 3):
        unit.link.publish(
            T.unit_event("spreekkamer-1"),
            ev.model_copy(update={"attempt": attempt}).model_dump_json().encode(),
        )
    wait_until(lambda: len([r for r in unit.receipts if r.event_id == ev.event_id]) >= 3, 10, "3 receipts")
    receipts = [r for r in unit.receipts if r.event_id == ev.event_id]
    assert sorted(r.duplicate for r in receipts) == [False, True, True]
    assert len({r.incident_id for r in receipts}) == 1
    wait_until(lambda: system.alarm_notes("an"), 5, "the lead's page")
    time.sleep(0.3)  # give a wrong second page the chance to show up
    assert len(system.alarm_notes("an")) == 1


def test_help_goes_out_first_the_page_before_the_receipt_and_the_retained_state(system: System) -> None:
    """A batch's notifications and pages are published before its receipts and retained state: on the
    cluster a node stores each QoS 1 publish before it reads the console's next, so what comes first
    arrives first (docs/HA.md, item 9). One observer connection sees the console's publish order."""
    unit = system.unit("spreekkamer-1")  # lead an, who also has the pager unit pager-an
    ev = unit.press()
    inc = receipted(unit, ev.event_id)
    wait_until(lambda: system.alarm_notes("an"), 5, "the lead's notification")
    wait_until(lambda: system.seen.on(T.incident(inc)), 5, "the retained incident")

    def first(topic: str, match: str) -> int:
        """Where the first message on `topic` whose payload holds `match` arrived."""
        with system.seen._lock:
            seen = list(system.seen.messages)
        return next(k for k, (tp, body, _r) in enumerate(seen) if tp == topic and match.encode() in body)

    wait_until(lambda: system.seen.on(T.unit_cmd("pager-an")), 5, "the page on the lead's pager unit")
    note = first(T.person_notify("an"), inc)
    page = first(T.unit_cmd("pager-an"), inc)
    receipt = first(T.unit_receipt("spreekkamer-1"), str(ev.event_id))
    state = first(T.incident(inc), inc)
    assert max(note, page) < receipt < state, (note, page, receipt, state)


def test_console_kill9_mid_escalation_resumes_without_repaging(system: System) -> None:
    unit = system.unit("spreekkamer-1")
    ev = unit.press()
    inc = receipted(unit, ev.event_id)
    wait_until(lambda: system.alarm_notes("dirk"), 10, "level 2 (the deputy)")
    time.sleep(0.3)  # the broker's PUBACK of level 2 is recorded
    system.console.kill()
    system.console.start()
    system.console.wait_ready()
    wait_until(lambda: any(n.level == 3 for n in system.alarm_notes("els")), 15, "level 3 after the restart")
    assert "1 open incident" in system.console.log()
    an = [n for n in system.alarm_notes("an") if n.incident_id == inc]
    assert [n.level for n in an if n.level < 3] == [1]  # level 1 not sent again
    assert [n.level for n in system.alarm_notes("dirk") if n.level < 3] == [2]  # nor level 2
    assert [n.level for n in system.alarm_notes("els")] == [3]


def test_receipt_means_stored_even_if_the_console_dies_right_after(system: System) -> None:
    unit = system.unit("wachtzaal")
    ev = unit.press()
    wait_until(lambda: unit.receipt_for(ev.event_id) is not None, 10, "the receipt")
    system.console.kill()
    store = Store(system.console.db, readonly=True)
    (row,) = store.incidents()
    assert row["unit_id"] == "wachtzaal"
    assert store.received(ev.event_id) == (True, row["incident_id"])


def test_broker_kill9_mid_flow_loses_nothing(system: System) -> None:
    first = system.unit("spreekkamer-1")
    second = system.unit("balie-1")
    ev1 = first.press()
    inc1 = receipted(first, ev1.event_id)
    system.broker.kill()  # SIGKILL the broker mid-escalation
    ev2 = second.press()  # pressed while the broker is down: the unit keeps it and retries
    time.sleep(0.5)
    system.broker.start()
    inc2 = receipted(second, ev2.event_id, timeout=20)
    assert inc2 != inc1
    wait_until(
        lambda: any(n.incident_id == inc2 for n in system.alarm_notes("chris")), 15, "page for the 2nd alarm"
    )
    wait_until(
        lambda: any(n.incident_id == inc1 and n.level == 3 for n in system.alarm_notes("els")),
        15,
        "level 3 of the 1st",
    )

    def console_online() -> bool:
        return any(
            parse(ConsoleStatus, p).state is LinkState.ONLINE for p in system.seen.on(T.console_status())
        )

    wait_until(console_online, 10, "console status online again")
    assert len(Store(system.console.db, readonly=True).incidents()) == 2


def test_presence_via_cli_then_sigterm_stops_cleanly_with_status_offline(system: System) -> None:
    away = system.cli("presence", "--as", "an", "absent", "--broker-dir", str(system.broker.dir))
    assert away.returncode == 0, away.stderr

    def an_absent() -> bool:
        states = [parse(PresenceState, p) for p in system.seen.on(T.presence("an"))]
        return bool(states) and states[-1].present is False

    wait_until(an_absent, 5, "retained presence of An: absent")
    unit = system.unit("spreekkamer-1")
    unit.press()
    wait_until(lambda: system.alarm_notes("dirk"), 5, "the deputy paged at once (An is absent)")
    assert system.alarm_notes("an") == []
    assert system.console.terminate() == 0

    def last_status() -> ConsoleStatus | None:  # the service also beats on this topic (online)
        statuses = [parse(ConsoleStatus, p) for p in system.seen.on(T.console_status())]
        return statuses[-1] if statuses else None

    wait_until(
        lambda: (st := last_status()) is not None and st.state is LinkState.OFFLINE, 5, "status offline"
    )
    assert "console service stopped" in system.console.log()


def test_test_press_never_pages_and_campaign_via_cli(system: System) -> None:
    unit = system.unit("balie-1")
    start = system.cli(
        "test", "start", "--as", "fien", "--room", "balie-1", "--broker-dir", str(system.broker.dir)
    )
    assert start.returncode == 0, start.stderr
    wait_until(lambda: unit.commands, 5, "TestModeCmd at the unit")
    assert [parse_unit_command(p).kind for p in unit.commands] == ["test_mode"]
    ev = unit.press(EventKind.TEST)
    wait_until(lambda: unit.receipt_for(ev.event_id) is not None, 10, "receipt of the test press")
    stop = system.cli("test", "stop", "--as", "fien", "--broker-dir", str(system.broker.dir))
    assert stop.returncode == 0, stop.stderr
    refused = system.cli(
        "test", "start", "--as", "an", "--room", "balie-1", "--broker-dir", str(system.broker.dir)
    )
    assert refused.returncode == 1 and "not_authorised" in refused.stderr
    assert all(not system.alarm_notes(p) for p in ("an", "bart", "chris", "dirk", "els"))
    facts = [
        json.loads(r[0])
        for r in Store(system.console.db, readonly=True).db.execute("SELECT data FROM events")
    ]
    ended = [f for f in facts if f["kind"] == "campaign_ended"]
    assert ended[0]["tested"] == ["balie-1/knop"] and ended[0]["untested"] == ["balie-1/voet"]
