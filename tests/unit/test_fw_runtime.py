"""The unit's protocol logic with injected time, a recording link and a real outbox file."""

from __future__ import annotations

import itertools
import json
import logging
import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from stilalarm.devkit.unitdoubles import ManualTime, RecordingOutputs, RecordingPort
from stilalarm.firmware.outbox import Outbox
from stilalarm.firmware.ports import Settings
from stilalarm.firmware.runtime import UnitRuntime
from stilalarm.inventory import load_site
from stilalarm.inventory.derived import UnitConfig
from stilalarm.wire import messages as m
from stilalarm.wire.credentials import BrokerCredentials
from stilalarm.wire.topics import Topics
from tests.conftest import EXAMPLE_SITE

SITE = load_site(EXAMPLE_SITE)
T = Topics(SITE.site.id)
CREDS = BrokerCredentials(site_id=SITE.site.id, username="u", password="x" * 16, host="127.0.0.1", port=1)


def config(unit_id: str) -> UnitConfig:
    return UnitConfig(site_id=SITE.site.id, unit=SITE.unit(unit_id), broker=CREDS)


class Rig:
    def __init__(self, tmp: Path, unit_id: str = "balie-3", time: ManualTime | None = None) -> None:
        self.time = time or ManualTime()
        self.port = RecordingPort()
        self.out = RecordingOutputs()
        self.seen: list[tuple[str, dict[str, object]]] = []
        self.outbox = Outbox(tmp / "outbox.sqlite")
        self.rt = UnitRuntime(
            config(unit_id),
            outbox=self.outbox,
            port=self.port,
            scheduler=self.time,
            clock=self.time,
            outputs=self.out,
            observe=lambda n, f: self.seen.append((n, f)),
            settings=Settings(heartbeat_offset_s=5),
        )
        self.unit_id = unit_id
        self.rt.start()

    def up(self) -> None:
        self.rt.link_up()

    def press(self, button: str = "knop", hold_ms: int = 100) -> None:
        b = self.rt._btn[button]
        levels = {"no": (False, None), "nc": (True, None), "dual": (False, True)}[b.contact.value]
        idle = {"no": (True, None), "nc": (False, None), "dual": (True, False)}[b.contact.value]
        self.rt.sample(button, *levels)
        self.time.advance(hold_ms)
        self.rt.sample(button, *idle)
        self.time.advance(50)

    def events(self) -> list[m.UnitEvent]:
        """Every transmission, retransmissions included."""
        return [m.parse(m.UnitEvent, p) for p in self.port.on(T.unit_event(self.unit_id))]

    def distinct(self) -> list[m.UnitEvent]:
        """Every event once, in order of first transmission."""
        seen: dict[uuid.UUID, m.UnitEvent] = {}
        for e in self.events():
            seen.setdefault(e.event_id, e)
        return list(seen.values())

    def receipt(self, ev: m.UnitEvent, unit: str | None = None, incident: str | None = "i-1") -> None:
        r = m.Receipt(
            event_id=ev.event_id, unit_id=unit or self.unit_id, incident_id=incident, stored_at=m.utcnow()
        )
        self.rt.on_message(T.unit_receipt(self.unit_id), m.encode(r))

    def cmd(self, msg: object) -> None:
        payload = msg if isinstance(msg, bytes) else m.encode(msg)  # type: ignore[arg-type]
        self.rt.on_message(T.unit_cmd(self.unit_id), payload)

    def named(self, name: str) -> list[dict[str, object]]:
        return [f for n, f in self.seen if n == name]


def cmd_fields(unit: str = "balie-3") -> dict[str, object]:
    return {"cmd_id": uuid.uuid4(), "unit_id": unit, "issued_at": m.utcnow()}


def test_press_is_stored_before_it_is_sent_then_receipt_clears_it(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    r.up()
    birth = m.parse(m.UnitStatus, r.port.on(T.unit_status("balie-3"))[0])
    assert birth.state is m.LinkState.ONLINE and birth.reason == "connected"
    r.press()
    [ev] = r.events()
    assert ev.kind is m.EventKind.ALARM and ev.button_id == "knop" and ev.attempt == 1
    assert ev.boot_id == r.rt.boot_id and ev.seq == 1
    assert [s.event.event_id for s in r.outbox.pending("balie-3")] == [ev.event_id]
    names = [n for n, _f in r.seen]
    assert names.index("alarm_stored") < len(names)
    r.time.advance(30)
    r.receipt(ev)
    assert r.outbox.depth("balie-3") == 0 and not r.rt.pending
    [rec] = r.named("receipt")
    assert (
        rec["incident_id"] == "i-1" and rec["latency_ms"] == 130
    )  # detected 50 ms into the press, receipted 130 ms later
    assert r.out.shown[-1] == ("stored", "off")
    assert r.named("led") == [{"pattern": "stored"}]


def test_no_receipt_means_retransmission_with_the_same_id_and_backoff(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    r.up()
    r.press()
    t0 = r.time.ms
    for _ in range(7):
        r.time.advance(60_000)
    evs = r.events()
    assert len({e.event_id for e in evs}) == 1
    assert [e.attempt for e in evs] == list(range(1, len(evs) + 1))
    gaps = [(b.sent_at - a.sent_at).total_seconds() for a, b in itertools.pairwise(evs)]
    assert gaps[:5] == [2, 4, 8, 16, 30] and set(gaps[5:]) == {30}
    assert r.time.ms - t0 >= 7 * 60_000
    r.receipt(evs[0])
    n = len(r.events())
    r.time.advance(120_000)
    assert len(r.events()) == n  # receipted: no more retransmissions


def test_press_while_down_is_stored_and_sent_on_link_up(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    r.press()
    assert r.events() == [] and r.outbox.depth("balie-3") == 1
    r.time.advance(10_000)
    assert r.events() == []  # nothing is piled up in paho's memory while down
    r.up()
    [ev] = r.events()
    assert ev.attempt == 1
    r.rt.link_down("test")
    r.time.advance(60_000)
    assert len(r.events()) == 1
    r.up()  # every reconnect resends at once
    assert [e.event_id for e in r.events()] == [ev.event_id] * 2


def test_restart_resends_the_same_event_and_continues_seq(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    r.up()
    r.press()
    [ev] = r.events()
    r.outbox.close()  # the process dies (the event was committed before it was sent)
    r2 = Rig(tmp_path, time=ManualTime(start_ms=5_000))
    assert r2.rt.boot_id != r.rt.boot_id
    r2.up()
    [again] = r2.events()
    assert again.event_id == ev.event_id and again.boot_id == ev.boot_id and again.attempt == 2
    r2.press()
    assert r2.events()[-1].seq == 2
    r2.receipt(again)
    assert r2.named("receipt")[0]["latency_ms"] is None  # detected in an earlier boot


def test_repeated_presses_are_separate_alarms(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    r.up()
    for _ in range(3):
        r.press()
        r.time.advance(200)
    evs = r.events()
    assert [e.kind for e in evs] == [m.EventKind.ALARM] * 3
    assert len({e.event_id for e in evs}) == 3 and [e.seq for e in evs] == [1, 2, 3]


def test_bad_receipts_and_commands_are_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    r = Rig(tmp_path)
    r.up()
    r.press()
    [ev] = r.events()
    r.rt.on_message(T.unit_receipt("balie-3"), b"{not json")
    r.receipt(ev, unit="balie-1")  # someone else's
    bogus = m.Receipt(event_id=uuid.uuid4(), unit_id="balie-3", stored_at=m.utcnow())
    r.rt.on_message(T.unit_receipt("balie-3"), m.encode(bogus))
    r.cmd(b'{"v": 1, "kind": "self_destruct"}')
    r.cmd(b"\xff\xfe")
    r.cmd(m.FeedbackCmd(**cmd_fields("balie-1"), feedback=m.Feedback.ACKNOWLEDGED))  # type: ignore[arg-type]
    r.cmd(m.PageCmd(**cmd_fields(), incident_id="i-1", level=3))  # type: ignore[arg-type]  # desk unit
    r.rt.on_message(T.unit_cmd("balie-1"), b"{}")
    assert r.rt.pending and r.out.shown[-1] == ("off", "off")
    text = caplog.text
    assert "malformed receipt" in text and "unknown or receipted event" in text
    assert "malformed command" in text and "command for unit balie-1" in text


def test_feedback_commands_drive_the_led(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    r.up()
    r.press()
    r.receipt(r.events()[0])
    r.cmd(m.FeedbackCmd(**cmd_fields(), feedback=m.Feedback.ACKNOWLEDGED))  # type: ignore[arg-type]
    r.cmd(m.FeedbackCmd(**cmd_fields(), feedback=m.Feedback.OFF))  # type: ignore[arg-type]
    assert [f["pattern"] for f in r.named("led")] == ["stored", "acknowledged", "off"]
    assert all(b == "off" for _l, b in r.out.shown)  # never a sound at a desk


def test_test_mode_single_shot_then_real_alarm(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    r.up()
    until = r.time.wall() + timedelta(minutes=15)
    r.cmd(m.TestModeCmd(**cmd_fields(), on=True, until=until, campaign_id="c-7"))  # type: ignore[arg-type]
    assert r.rt.heartbeat().test_mode
    r.press()
    r.press()
    first, second = r.events()
    assert first.kind is m.EventKind.TEST and first.campaign_id == "c-7"
    assert second.kind is m.EventKind.ALARM and second.campaign_id is None
    r.receipt(first, incident=None)
    assert r.named("led")[0] == {"pattern": "test_ok"}


def test_a_test_press_the_console_took_as_an_alarm_shows_stored_not_test_ok(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    r.up()
    r.rt.set_local_test_mode(True)  # local only: the console has no window, so it is a real alarm
    r.press()
    (ev,) = r.distinct()
    assert ev.kind is m.EventKind.TEST
    r.receipt(ev, incident="20261128-0001")
    assert r.named("led")[-1] == {"pattern": "stored"}


def test_reopened_window_within_60_s_does_not_make_a_just_tested_button_a_test_again(tmp_path: Path) -> None:
    r = Rig(tmp_path, "spreekkamer-2")  # two buttons: tafel, deur
    r.up()

    def window(campaign: str) -> None:
        until = r.time.wall() + timedelta(minutes=5)
        r.cmd(m.TestModeCmd(**cmd_fields("spreekkamer-2"), on=True, until=until, campaign_id=campaign))  # type: ignore[arg-type]

    window("c-1")
    r.press("tafel")
    window("c-2")  # facilities open the window again (or the console re-sends it)
    r.time.advance(20_000)
    r.press("tafel")  # 20 s after its test press: a real alarm
    r.time.advance(50_000)
    r.press("tafel")  # it stays live for the rest of the window
    r.press("deur")  # the other button is still a test
    kinds = [(e.button_id, e.kind) for e in r.distinct()]
    assert kinds == [
        ("tafel", m.EventKind.TEST),
        ("tafel", m.EventKind.ALARM),
        ("tafel", m.EventKind.ALARM),
        ("deur", m.EventKind.TEST),
    ]
    assert not r.rt.heartbeat().test_mode  # every button tested or live: the window is over


def test_test_key_turned_again_does_not_rearm_a_just_tested_button(tmp_path: Path) -> None:
    r = Rig(tmp_path, "spreekkamer-1")
    r.up()

    def key(on: bool) -> None:
        r.rt.test_key_sample(on)
        r.time.advance(100)

    key(True)
    r.press()
    key(False)
    key(True)
    r.press()  # well within 60 s of the test press
    assert [e.kind for e in r.distinct()] == [m.EventKind.TEST, m.EventKind.ALARM]


def test_local_and_console_windows_are_capped_at_15_minutes(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    r.up()
    start = r.time.wall()
    r.rt.set_local_test_mode(True, minutes=240)
    hb = r.rt.heartbeat()
    assert hb.test_mode and hb.test_until is not None and hb.test_until <= start + timedelta(minutes=15)
    r.time.advance(15 * 60_000)
    assert not r.rt.heartbeat().test_mode
    until = r.time.wall() + timedelta(hours=4)  # an old console's 240-minute campaign
    r.cmd(m.TestModeCmd(**cmd_fields(), on=True, until=until))  # type: ignore[arg-type]
    r.time.advance(15 * 60_000)
    assert not r.rt.heartbeat().test_mode
    r.press()
    assert r.distinct()[-1].kind is m.EventKind.ALARM


def test_test_mode_expires_and_console_can_switch_it_off(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    r.up()
    r.rt.set_local_test_mode(True, minutes=1)
    r.time.advance(60_000)
    assert r.named("test_mode")[-1]["on"] is False
    r.press()
    assert r.events()[-1].kind is m.EventKind.ALARM
    until = r.time.wall() + timedelta(minutes=15)
    r.cmd(m.TestModeCmd(**cmd_fields(), on=True, until=until))  # type: ignore[arg-type]
    r.cmd(m.TestModeCmd(**cmd_fields(), on=False))  # type: ignore[arg-type]
    r.press()
    assert r.events()[-1].kind is m.EventKind.ALARM


def test_heartbeat_content(tmp_path: Path) -> None:
    r = Rig(tmp_path, "balie-1")
    r.rt.probe = lambda: (47.5, -61)
    r.up()
    r.rt.sample("knop", True, True)  # cable cut
    r.time.advance(5_000)
    [hb_raw] = r.port.on(T.unit_heartbeat("balie-1"))
    hb = m.parse(m.Heartbeat, hb_raw)
    assert hb.unit_id == "balie-1" and hb.interval_s == 5 and hb.uptime_s == 5
    assert hb.inputs == {"knop": m.InputHealth.CUT, "tamper": m.InputHealth.OK}
    assert hb.outbox_depth == 1  # the cut fault, not receipted
    assert (hb.cpu_temp_c, hb.wifi_dbm, hb.test_mode) == (47.5, -61, False)
    r.time.advance(5_000)
    assert [m.parse(m.Heartbeat, p).seq for p in r.port.on(T.unit_heartbeat("balie-1"))] == [0, 1]
    assert all(q == 0 for t, _p, q, _r in r.port.sent if t == T.unit_heartbeat("balie-1"))


def test_cut_cable_is_a_fault_event_never_an_alarm(tmp_path: Path) -> None:
    r = Rig(tmp_path, "balie-1")
    r.up()
    r.rt.sample("knop", True, True)
    r.time.advance(1000)
    r.rt.sample("knop", True, False)
    r.time.advance(1000)
    evs = r.distinct()
    assert [(e.kind, e.fault) for e in evs] == [
        (m.EventKind.FAULT, m.FaultKind.CUT),
        (m.EventKind.FAULT_CLEARED, m.FaultKind.CUT),
    ]
    assert [f["state"] for f in r.named("fault")] == ["raised", "cleared"]


def test_tamper_and_stuck(tmp_path: Path) -> None:
    r = Rig(tmp_path, "balie-1")
    r.up()
    r.rt.tamper_sample(True)
    r.time.advance(300)
    r.rt.sample("knop", False, True)  # held down ...
    r.time.advance(31_000)  # ... for 31 s
    kinds = [(e.kind, e.fault) for e in r.distinct()]
    assert kinds == [
        (m.EventKind.FAULT, m.FaultKind.TAMPER),
        (m.EventKind.ALARM, None),
        (m.EventKind.FAULT, m.FaultKind.STUCK),
    ]
    assert r.rt.heartbeat().inputs == {"knop": m.InputHealth.STUCK, "tamper": m.InputHealth.TAMPER}


def test_test_key_turns_local_test_mode_on_and_off(tmp_path: Path) -> None:
    r = Rig(tmp_path, "spreekkamer-1")
    r.up()
    r.rt.test_key_sample(True)
    r.time.advance(100)
    assert r.rt.heartbeat().test_mode
    r.rt.test_key_sample(False)
    r.time.advance(100)
    assert not r.rt.heartbeat().test_mode


def test_lead_pager_ack_and_page_levels(tmp_path: Path) -> None:
    r = Rig(tmp_path, "pager-an")
    r.up()
    r.cmd(m.PageCmd(**cmd_fields("pager-an"), incident_id="i-1", level=2))  # type: ignore[arg-type]
    assert r.out.shown[-1] == ("page-2", "page-2")
    r.press("ik-kom")
    [ev] = r.events()
    assert ev.kind is m.EventKind.PAGER_ACK and ev.button_id == "ik-kom"
    r.cmd(m.PageCmd(**cmd_fields("pager-an"), incident_id="i-1", level=0))  # type: ignore[arg-type]
    assert r.out.shown[-1] == ("off", "off")


def test_clean_stop_and_will(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    topic, will = r.rt.will()
    st = m.parse(m.UnitStatus, will)
    assert topic == T.unit_status("balie-3") and st.reason == "lost" and st.at is None
    _t, words = r.rt.stop()
    assert m.parse(m.UnitStatus, words).reason == "shutdown"
    assert r.time.pending() == 0
    assert json.loads(words)["state"] == "offline"
