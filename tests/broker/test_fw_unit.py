"""The real `alarm-unit` process against a real mosquitto; the test plays the console.

The unit runs as `alarm-unit run --sim --control-stdin` (MockFactory pins, control
lines on stdin, JSON lines on stdout), so SIGKILL and restarts are real.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from stilalarm.broker_config.local import LocalBroker
from stilalarm.devkit.unitdoubles import JsonLineProcess
from stilalarm.firmware.outbox import Outbox
from stilalarm.inventory.derived import UnitConfig
from stilalarm.wire import messages as m
from stilalarm.wire.link import Link
from stilalarm.wire.topics import Topics, UnitChannel
from tests.harness import Capture, mosquitto_pub, wait_until

BIN = Path(sys.executable).parent


class Console:
    """Plays the console: records unit events and (optionally) answers with receipts."""

    def __init__(self, link: Link, topics: Topics, answer: bool = True) -> None:
        self.link = link
        self.topics = topics
        self.answer = answer
        self.events: list[m.UnitEvent] = []
        self._lock = threading.Lock()
        link.subscribe(topics.all_units(UnitChannel.EVENT), self._on)

    def _on(self, _topic: str, payload: bytes) -> None:
        ev = m.parse(m.UnitEvent, payload)
        with self._lock:
            self.events.append(ev)
        if self.answer:
            self.receipt(ev, None if ev.kind is m.EventKind.TEST else "i-1")  # like the console

    def receipt(self, ev: m.UnitEvent, incident: str | None = "i-1") -> None:
        r = m.Receipt(event_id=ev.event_id, unit_id=ev.unit_id, incident_id=incident, stored_at=m.utcnow())
        self.link.publish(self.topics.unit_receipt(ev.unit_id), m.encode(r))

    def command(self, unit_id: str, cmd: m.BaseModel | bytes) -> None:
        payload = cmd if isinstance(cmd, bytes) else m.encode(cmd)
        self.link.publish(self.topics.unit_cmd(unit_id), payload).wait_for_publish(5)

    def seen(self, **match: Any) -> list[m.UnitEvent]:
        with self._lock:
            return [e for e in self.events if all(getattr(e, k) == v for k, v in match.items())]


@pytest.fixture
def console(link: Callable[..., Link], topics: Topics) -> Console:
    lk = link("console", connect=False)
    c = Console(lk, topics)
    lk.start()
    assert lk.wait_connected(5)
    return c


@pytest.fixture
def unit_proc(broker: LocalBroker, tmp_path: Path) -> Iterator[Callable[..., JsonLineProcess]]:
    """Factory: start `alarm-unit run --sim --control-stdin` for a unit (killed after the test)."""
    made: list[JsonLineProcess] = []

    def start(
        unit_id: str = "balie-1", state: str = "state", env: dict[str, str] | None = None, **unit: Any
    ) -> JsonLineProcess:
        cfg_path = broker.dir / "units" / f"{unit_id}.json"
        if unit:  # e.g. heartbeat_s=1 for a fast test
            cfg = UnitConfig.model_validate_json(cfg_path.read_text())
            cfg = cfg.model_copy(update={"unit": cfg.unit.model_copy(update=unit)})
            cfg_path = tmp_path / f"{unit_id}.json"
            cfg_path.write_text(cfg.model_dump_json())
        argv = [str(BIN / "alarm-unit"), "run", "--config", str(cfg_path)]
        argv += ["--state-dir", str(tmp_path / state)]
        argv += ["--sim", "--control-stdin"]
        p = JsonLineProcess(argv, tmp_path / f"{unit_id}-{len(made)}.log", env)
        made.append(p)
        return p

    yield start
    for p in made:
        p.close()


def test_press_event_receipt_outbox_empty_led_stored(
    console: Console, unit_proc: Any, tmp_path: Path
) -> None:
    u = unit_proc()
    u.wait_for("link", state="up")
    u.send("press balie-1")
    [stored] = u.wait_for("alarm_stored")
    [rec] = u.wait_for("receipt")
    assert rec["event_id"] == stored["event_id"] and rec["incident_id"] == "i-1"
    assert isinstance(rec["latency_ms"], int) and rec["latency_ms"] < 10_000
    u.wait_for("led", pattern="stored")
    [ev] = console.seen(kind=m.EventKind.ALARM)
    assert str(ev.event_id) == stored["event_id"] and ev.unit_id == "balie-1" and ev.button_id == "knop"
    u.send("status balie-1")
    assert u.wait_for("status")[0]["outbox_depth"] == 0
    assert Outbox(tmp_path / "state" / "outbox.sqlite").depth("balie-1") == 0


def test_no_receipt_means_retransmission_with_the_same_id(console: Console, unit_proc: Any) -> None:
    console.answer = False
    u = unit_proc()
    u.wait_for("link", state="up")
    u.send("press balie-1")
    wait_until(lambda: len(console.seen()) >= 2, timeout=10, what="a retransmission")
    first, second = console.seen()[:2]
    assert first.event_id == second.event_id and (first.attempt, second.attempt) == (1, 2)
    assert second.sent_at > first.sent_at
    console.receipt(first)
    u.wait_for("receipt", event_id=str(first.event_id))


def test_press_while_broker_down_is_delivered_after_it_returns(
    broker: LocalBroker, console: Console, unit_proc: Any
) -> None:
    u = unit_proc()
    u.wait_for("link", state="up")
    broker.kill()
    u.wait_for("link", state="down")
    u.send("press balie-1")
    [stored] = u.wait_for("alarm_stored")
    broker.start()
    [rec] = u.wait_for("receipt", timeout=20)
    assert rec["event_id"] == stored["event_id"]
    assert [str(e.event_id) for e in console.seen(kind=m.EventKind.ALARM)][:1] == [stored["event_id"]]


def test_broker_sigkill_with_alarms_in_flight_loses_nothing(
    broker: LocalBroker, console: Console, unit_proc: Any
) -> None:
    console.answer = False
    u = unit_proc("spreekkamer-2")
    u.wait_for("link", state="up")
    for i in range(5):  # one after the other (presses that overlap in time are one press)
        u.send(f"press spreekkamer-2 {'tafel' if i % 2 else 'deur'}")
        u.wait_for("release", n=i + 1)
    stored = {r["event_id"] for r in u.wait_for("alarm_stored", n=5)}
    broker.kill()  # whatever was PUBACKed but not yet saved, and our session, may be gone
    broker.start()
    console.answer = True
    for ev in console.seen():  # answer what already arrived; the rest comes by retransmission
        console.receipt(ev)
    receipted = lambda: {r["event_id"] for r in u.find("receipt")}  # noqa: E731
    wait_until(lambda: stored <= receipted(), timeout=40, what="receipts for all 5 alarms")
    u.send("status spreekkamer-2")
    assert u.wait_for("status")[-1]["outbox_depth"] == 0


def test_unit_sigkill_before_receipt_is_delivered_after_restart(console: Console, unit_proc: Any) -> None:
    console.answer = False
    u = unit_proc()
    u.wait_for("link", state="up", timeout=60)
    u.send("press balie-1")
    [stored] = u.wait_for("alarm_stored", timeout=60)
    u.kill()  # the first send may or may not have left the process (a loaded machine): both are fine
    console.answer = True
    again = unit_proc()  # same --state-dir
    # the restarted process loaded the event from its outbox (no detection time: latency None)
    # and got the console's receipt for it; the console saw that one event id and no other
    [rec] = again.wait_for("receipt", timeout=60)
    assert rec["event_id"] == stored["event_id"] and rec["latency_ms"] is None
    ids = {str(e.event_id) for e in console.seen(kind=m.EventKind.ALARM)}
    assert ids == {stored["event_id"]}
    again.send("status balie-1")
    assert again.wait_for("status", timeout=60)[-1]["outbox_depth"] == 0


@pytest.mark.parametrize("point", ["store", "receipt"])
def test_unit_crash_between_outbox_write_and_publish_or_at_the_receipt(
    console: Console, unit_proc: Any, point: str
) -> None:
    """The soak's fault hook: the process SIGKILLs itself right after the outbox write (nothing
    published yet) or when the receipt arrives (before the outbox records it); after a restart on
    the same outbox the same event is delivered and receipted, once."""
    u = unit_proc()
    u.wait_for("link", state="up")
    u.send(f"crash balie-1 {point}")
    u.wait_for("crash_armed", point=point)
    u.send("press balie-1")
    [crash] = u.wait_for("crashing", point=point)
    assert u.proc.wait(10) == -9
    [stored] = u.find("alarm_stored")
    assert stored["event_id"] == crash["event_id"] and not u.find("receipt")
    sent = {str(e.event_id) for e in console.seen(kind=m.EventKind.ALARM)}
    if point == "store":
        assert sent == set()  # the publish never happened
    else:
        wait_until(lambda: crash["event_id"] in {str(e.event_id) for e in console.seen()}, 5, "event seen")
    again = unit_proc()  # same --state-dir
    [rec] = again.wait_for("receipt", timeout=15, event_id=crash["event_id"])
    assert rec["incident_id"] == "i-1"
    assert {str(e.event_id) for e in console.seen(kind=m.EventKind.ALARM)} == {crash["event_id"]}
    again.send("status balie-1")
    assert again.wait_for("status")[-1]["outbox_depth"] == 0


def test_clock_step_moves_the_units_wall_clock_only(console: Console, unit_proc: Any) -> None:
    """The soak's clock step: events carry the stepped wall time; debounce and retransmission run
    on the monotonic clock, so the press still works; 0 puts the clock right again."""
    u = unit_proc()
    u.wait_for("link", state="up")
    u.send("clock balie-1 -3600")
    u.wait_for("clock_set", offset_s=-3600.0)
    u.send("press balie-1")
    [stored] = u.wait_for("alarm_stored")
    u.wait_for("receipt", event_id=stored["event_id"], timeout=15)
    [ev] = [e for e in console.seen(kind=m.EventKind.ALARM) if str(e.event_id) == stored["event_id"]]
    off = (ev.occurred_at - m.utcnow()).total_seconds()
    assert -3700 < off < -3500
    u.wait_for("release")  # the first press is over before the next one
    u.send("clock balie-1 0")
    u.wait_for("clock_set", offset_s=0.0)
    u.send("press balie-1")
    wait_until(lambda: len(u.find("alarm_stored")) == 2, 10, "second press stored")
    second = u.find("alarm_stored")[1]["event_id"]
    wait_until(lambda: any(str(e.event_id) == second for e in console.seen()), 10, "second press sent")
    [ev2] = [e for e in console.seen(kind=m.EventKind.ALARM) if str(e.event_id) == second]
    assert abs((ev2.occurred_at - m.utcnow()).total_seconds()) < 60


def test_crash_is_refused_by_the_simulator() -> None:
    from stilalarm.firmware.control import ControlError, parse_control

    assert parse_control("crash u1 store") is not None
    with pytest.raises(ControlError, match="store\\|receipt"):
        parse_control("crash u1 later")
    assert parse_control("clock u1 -86400") is not None
    with pytest.raises(ControlError, match="SECONDS"):
        parse_control("clock u1 soon")


def test_malformed_and_unauthorised_commands_are_ignored(
    broker: LocalBroker, console: Console, unit_proc: Any, topics: Topics, tmp_path: Path
) -> None:
    u = unit_proc()
    u.wait_for("link", state="up")
    console.command("balie-1", b"{not json")
    console.command("balie-1", b'{"v": 1, "kind": "self_destruct"}')
    other = {"cmd_id": uuid.uuid4(), "unit_id": "balie-2", "issued_at": m.utcnow()}
    console.command("balie-1", m.FeedbackCmd(**other, feedback=m.Feedback.ACKNOWLEDGED))  # type: ignore[arg-type]
    mine = {"cmd_id": uuid.uuid4(), "unit_id": "balie-1", "issued_at": m.utcnow()}
    good = m.FeedbackCmd(**mine, feedback=m.Feedback.ACKNOWLEDGED)  # type: ignore[arg-type]
    # a person may not command a unit: the broker's ACL refuses it
    mosquitto_pub(broker.creds("person-an"), topics.unit_cmd("balie-1"), m.encode(good))
    bogus = m.Receipt(event_id=uuid.uuid4(), unit_id="balie-1", stored_at=m.utcnow())
    console.link.publish(topics.unit_receipt("balie-1"), m.encode(bogus)).wait_for_publish(5)
    u.send("press balie-1")
    u.wait_for("receipt")  # still alive and working
    assert u.find("led", pattern="acknowledged") == []
    log = u.log_path.read_text()
    assert log.count("malformed command ignored") == 2 and "command for unit balie-2 ignored" in log
    assert "receipt for unknown or receipted event" in log
    console.command("balie-1", good)
    u.wait_for("led", pattern="acknowledged")


def test_birth_and_will_retained(capture: Callable[..., Capture], unit_proc: Any, topics: Topics) -> None:
    status = topics.unit_status("balie-3")
    cap = capture(status)
    u = unit_proc("balie-3")
    u.wait_for("link", state="up")
    birth = m.parse(m.UnitStatus, cap.wait_for(status)[0])
    assert (birth.state, birth.reason) == (m.LinkState.ONLINE, "connected")
    u.kill()
    will = m.parse(m.UnitStatus, cap.wait_for(status, n=2)[1])
    assert (will.state, will.reason, will.boot_id) == (m.LinkState.OFFLINE, "lost", birth.boot_id)
    late = capture(status)  # retained: a newcomer sees it at once
    assert m.parse(m.UnitStatus, late.wait_for(status)[0]).reason == "lost"
    u2 = unit_proc("balie-3")
    u2.wait_for("link", state="up")
    assert u2.stop() == 0
    wait_until(lambda: len(cap.on(status)) >= 4, what="birth and clean offline")
    assert m.parse(m.UnitStatus, cap.on(status)[3]).reason == "shutdown"


def test_heartbeat_content_and_systemd_notify(
    capture: Callable[..., Capture], unit_proc: Any, topics: Topics, tmp_path: Path
) -> None:
    hb_topic = topics.unit_heartbeat("balie-1")
    cap = capture(hb_topic)
    sock_path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as srv:
        srv.bind(sock_path)
        srv.settimeout(10)
        u = unit_proc(heartbeat_s=1, env={"NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": "400000"})
        assert srv.recv(200).startswith(b"READY=1")
        assert srv.recv(200) == b"WATCHDOG=1"
        u.wait_for("link", state="up")
        u.send("cut balie-1")
        wait_until(
            lambda: any(m.parse(m.Heartbeat, p).inputs.get("knop") == "cut" for p in cap.on(hb_topic)),
            timeout=10,
            what="a heartbeat showing the cut cable",
        )
        hb = m.parse(m.Heartbeat, cap.on(hb_topic)[-1])
        assert hb.unit_id == "balie-1" and hb.interval_s == 1 and hb.uptime_s > 0
        assert hb.firmware_version and hb.test_mode is False and hb.inputs["tamper"] == "ok"
        assert hb.outbox_depth >= 0
        u.stop()
        msgs = []
        while True:
            msg = srv.recv(200)
            msgs.append(msg)
            if msg == b"STOPPING=1":
                break
        assert set(msgs) <= {b"WATCHDOG=1", b"STOPPING=1"}


def test_test_mode_then_real_alarm(console: Console, unit_proc: Any) -> None:
    u = unit_proc()
    u.wait_for("link", state="up")
    fields = {"cmd_id": uuid.uuid4(), "unit_id": "balie-1", "issued_at": m.utcnow()}
    until = m.utcnow() + timedelta(minutes=15)
    console.command("balie-1", m.TestModeCmd(**fields, on=True, until=until, campaign_id="c-42"))  # type: ignore[arg-type]
    u.wait_for("test_mode", on=True)
    u.send("press balie-1")
    u.wait_for("test_stored")
    u.wait_for("led", pattern="test_ok")
    u.wait_for("release")
    u.send("press balie-1")
    u.wait_for("alarm_stored")
    wait_until(lambda: len(console.seen()) >= 2, what="two events")
    test, alarm = console.seen()[:2]
    assert (test.kind, test.campaign_id) == (m.EventKind.TEST, "c-42")
    assert (alarm.kind, alarm.campaign_id) == (m.EventKind.ALARM, None)


def test_local_test_mode_cli(unit_proc: Any, tmp_path: Path) -> None:
    import subprocess

    u = unit_proc()
    u.wait_for("link", state="up")
    state = str(tmp_path / "state")
    cmd = [str(BIN / "alarm-unit"), "test-mode", "on", "--minutes", "5", "--state-dir", state]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False)
    assert res.returncode == 0, res.stderr
    assert "test mode on until" in res.stdout
    u.wait_for("test_mode", on=True, source="local")
    u.send("press balie-1")
    u.wait_for("test_stored")
    off = subprocess.run([*cmd[:2], "off", *cmd[5:]], capture_output=True, text=True, timeout=20, check=False)
    assert off.returncode == 0, off.stderr
    u.stop()
    nobody = subprocess.run(
        [*cmd[:-1], str(tmp_path / "state"), "--wait", "0.5"], capture_output=True, text=True, check=False
    )
    assert nobody.returncode == 1 and "is it running?" in nobody.stderr


def test_bad_config_names_file_and_field(tmp_path: Path) -> None:
    import subprocess

    bad = tmp_path / "unit.json"
    bad.write_text('{"site_id": "x", "unit": {"id": "Bad Id"}}')
    res = subprocess.run(
        [str(BIN / "alarm-unit"), "run", "--config", str(bad), "--state-dir", str(tmp_path / "s"), "--sim"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert res.returncode != 0
    assert f"{bad}: unit.id:" in res.stderr and f"{bad}: broker:" in res.stderr


def test_an_outbox_after_an_outage_passes_the_broker_publish_limit_whole(
    broker: LocalBroker, console: Console, unit_proc: Any
) -> None:
    """The real firmware's burst after an outage (status, every pending event at once) is far
    inside the broker's per-login limit ([broker] publish_burst): nothing is dropped or delayed."""
    n = 30
    assert n + 2 < broker.site.broker.publish_burst
    u = unit_proc()
    u.wait_for("link", state="up")
    broker.kill()
    u.wait_for("link", state="down")
    while len(u.find("alarm_stored")) < n:  # a press while the button is still down is ignored
        u.send("press balie-1")
        have = len(u.find("alarm_stored"))
        with contextlib.suppress(AssertionError):
            wait_until(lambda h=have: len(u.find("alarm_stored")) > h, 1, "the press")
    stored = {s["event_id"] for s in u.find("alarm_stored")}
    broker.start()
    wait_until(lambda: len(u.find("receipt")) >= len(stored), 60, f"receipts for all {n} alarms")
    assert {r["event_id"] for r in u.find("receipt")} == stored
    # The broker logs a login's first dropped message at once: none was dropped. (Whether the
    # test console saw each first transmission depends on when its own session reconnects
    # after the broker's restart, not on the limit.)
    assert "is over its publish limit" not in broker.log_path.read_text(errors="replace")
