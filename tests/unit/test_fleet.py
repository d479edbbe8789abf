"""Config and version for the whole fleet (issue 17), the pure and in-process parts: judging a pushed
config, applying it in the unit runtime, the console's serials, supervision's view of versions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from stilalarm.console.cli.views import unit_matches
from stilalarm.console.config import SupervisionPolicy
from stilalarm.console.core import supervision
from stilalarm.console.core.effects import Notify, Record
from stilalarm.console.core.supervision import FaultIn, HeartbeatIn, UnitsState
from stilalarm.console.facts import FaultCleared, FaultRaised
from stilalarm.console.shell.configs import ConfigVersions
from stilalarm.firmware import fleetconfig
from stilalarm.firmware.health import parse_os_release
from stilalarm.inventory.derived import UnitConfig, config_content
from stilalarm.inventory.places import unit_content
from stilalarm.wire import messages as m
from tests.unit.test_fw_runtime import SITE, Rig, T, config

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def push(cfg: UnitConfig, serial: int = 100, **unit_changes: object) -> m.UnitConfigPush:
    content = config_content(cfg)
    content["unit"] = {**content["unit"], **unit_changes}
    return m.UnitConfigPush(
        unit_id=cfg.unit.id, serial=serial, digest=m.config_digest(content), issued_at=NOW, content=content
    )


# --------------------------------------------------------------------------- judging a push


def test_a_newer_valid_push_applies_and_says_whether_pins_changed() -> None:
    cur = config("balie-3")
    v = fleetconfig.judge(cur, None, push(cur, heartbeat_s=7))
    assert v.action == "apply" and v.cfg is not None and v.cfg.unit.heartbeat_s == 7
    assert v.cfg.broker == cur.broker and not v.pins_changed
    buttons = [{"id": "knop", "contact": "no", "pin": 6}]
    v = fleetconfig.judge(cur, None, push(cur, buttons=buttons))
    assert v.action == "apply" and v.pins_changed


@pytest.mark.parametrize("applied", [100, 101])
def test_an_older_or_equal_serial_is_ignored(applied: int) -> None:
    cur = config("balie-3")
    v = fleetconfig.judge(cur, applied, push(cur, serial=100, heartbeat_s=7))
    assert v.action == "ignore" and "not newer" in v.reason


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"led_pin": 5}, "GPIO 5 used twice"),
        ({"led_pin": 2}, "not a usable BCM GPIO"),
        ({"id": "balie-1"}, "describes unit 'balie-1'"),
        ({"via": "phone", "buttons": [{"id": "toets"}], "led_pin": None}, "via = 'phone'"),
        ({"heartbeat_s": "often"}, "heartbeat_s"),
    ],
)
def test_an_invalid_push_is_refused_with_the_reason(change: dict[str, object], reason: str) -> None:
    cur = config("balie-3")
    v = fleetconfig.judge(cur, None, push(cur, **change))
    assert v.action == "reject" and reason in v.reason, v.reason


def test_a_push_for_another_unit_or_site_or_with_a_wrong_digest_is_refused() -> None:
    cur = config("balie-3")
    other = push(config("balie-1"))
    assert "config for unit 'balie-1'" in fleetconfig.judge(cur, None, other).reason
    p = push(cur)
    forged = p.model_copy(update={"digest": "0" * 64})
    assert "digest" in fleetconfig.judge(cur, None, forged).reason
    content = {**config_content(cur), "site_id": "elders"}
    elsewhere = p.model_copy(update={"content": content, "digest": m.config_digest(content)})
    assert "site 'elders'" in fleetconfig.judge(cur, None, elsewhere).reason


def test_the_stored_push_is_what_a_restart_runs(tmp_path: Path) -> None:
    cur = config("balie-3")
    assert fleetconfig.load(tmp_path, cur) is None
    p = push(cur, heartbeat_s=9)
    fleetconfig.store(tmp_path, p)
    loaded = fleetconfig.load(tmp_path, cur)
    assert loaded is not None and loaded[0].unit.heartbeat_s == 9 and loaded[1] == p
    assert loaded[0].broker == cur.broker  # the credentials stay the rendered file's
    fleetconfig.path_for(tmp_path, "balie-3").write_text("{not json")
    assert fleetconfig.load(tmp_path, cur) is None  # damaged: the rendered file, said in the log


def test_os_release_pretty_name() -> None:
    text = 'NAME="Debian GNU/Linux"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n'
    assert parse_os_release(text) == "Debian GNU/Linux 12 (bookworm)"
    assert parse_os_release("ID=x\n") == ""


# --------------------------------------------------------------------------- the unit runtime


def heartbeats(r: Rig) -> list[m.Heartbeat]:
    return [m.parse(m.Heartbeat, p) for p in r.port.on(T.unit_heartbeat(r.unit_id))]


def test_the_runtime_applies_a_push_keeps_its_pending_alarm_and_reports_the_version(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    stored: list[m.UnitConfigPush] = []
    changed: list[tuple[UnitConfig, bool]] = []
    r.rt.store_config = stored.append
    r.rt.on_reconfigured = lambda c, pins: changed.append((c, pins))
    assert T.unit_config("balie-3") in r.rt.subscriptions()
    r.up()
    r.press()
    [alarm] = r.distinct()
    p = push(r.rt.cfg, heartbeat_s=2)
    r.rt.on_message(T.unit_config("balie-3"), m.encode(p))
    assert stored == [p] and changed == [(r.rt.cfg, False)] and r.rt.unit.heartbeat_s == 2
    assert [e.event_id for e in r.distinct()] == [alarm.event_id]  # the pending alarm is still pending
    assert list(r.rt.pending) == [alarm.event_id]
    assert heartbeats(r) == []
    r.time.advance(0)
    [hb] = heartbeats(r)  # said at once (no heartbeat went out before)
    assert hb.config_version == p.version and hb.interval_s == 2
    assert hb.python and hb.kernel
    r.time.advance(2000)
    assert len(heartbeats(r)) == 2  # the new interval
    r.receipt(alarm)
    assert not r.rt.pending
    # the retained push again (reconnect): ignored, nothing stored twice
    r.rt.on_message(T.unit_config("balie-3"), m.encode(p))
    assert stored == [p]


def test_the_version_heartbeat_keeps_the_consoles_minimum_gap(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    r.up()
    r.time.advance(5000)  # the first heartbeat (offset 5 s)
    assert len(heartbeats(r)) == 1
    r.time.advance(1000)
    p = push(r.rt.cfg, heartbeat_s=10)
    r.rt.on_message(T.unit_config("balie-3"), m.encode(p))
    r.time.advance(1999)  # 0.6 x the shorter interval (5 s) after the last one: not yet
    assert len(heartbeats(r)) == 1
    r.time.advance(1)
    assert heartbeats(r)[-1].config_version == p.version and heartbeats(r)[-1].interval_s == 10


def test_a_button_held_during_a_push_is_still_one_alarm(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    r.up()
    r.rt.sample("knop", False, None)  # pressed ...
    r.time.advance(30)
    r.rt.on_message(T.unit_config("balie-3"), m.encode(push(r.rt.cfg, heartbeat_s=3)))
    r.time.advance(100)
    r.rt.sample("knop", True, None)  # ... released after the push
    r.time.advance(50)
    assert [e.kind for e in r.distinct()] == [m.EventKind.ALARM]


def test_a_button_removed_by_a_push_leaves_no_timer_behind(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    r.up()
    two = [{"id": "knop", "contact": "no", "pin": 5}, {"id": "voet", "contact": "no", "pin": 6}]
    r.rt.on_message(T.unit_config("balie-3"), m.encode(push(r.rt.cfg, serial=1, buttons=two)))
    assert set(r.rt.buttons) == {"knop", "voet"}
    r.rt.sample("voet", False, None)  # pressed: its machine has a deadline armed
    r.time.advance(5)
    one = [{"id": "knop", "contact": "no", "pin": 5}]
    r.rt.on_message(T.unit_config("balie-3"), m.encode(push(r.rt.cfg, serial=2, buttons=one)))
    r.time.advance(60_000)  # no timer of the removed button fires
    assert set(r.rt.buttons) == {"knop"} and r.distinct() == []
    r.press("knop")
    assert [e.button_id for e in r.distinct()] == ["knop"]


def test_a_refused_push_is_a_unit_fault_config_with_the_reason_once(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    r.up()
    bad = push(r.rt.cfg, led_pin=5)
    for _ in range(2):  # the retained message again on a reconnect: said once
        assert r.rt.on_message(T.unit_config("balie-3"), m.encode(bad)) is None
    [ev] = r.distinct()
    assert ev.kind is m.EventKind.FAULT and ev.fault is m.FaultKind.CONFIG
    assert "GPIO 5 used twice" in ev.detail
    assert r.rt.unit.led_pin == 17 and r.rt.config_version is None  # still the old config


def test_a_push_that_cannot_be_stored_is_refused(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    r.up()

    def full(_p: m.UnitConfigPush) -> None:
        raise OSError(28, "No space left on device")

    r.rt.store_config = full
    r.rt.on_message(T.unit_config("balie-3"), m.encode(push(r.rt.cfg, heartbeat_s=9)))
    [ev] = r.distinct()
    assert ev.fault is m.FaultKind.CONFIG and "cannot store" in ev.detail
    assert r.rt.unit.heartbeat_s != 9


def test_garbage_on_the_config_topic_is_refused_and_an_empty_one_ignored(tmp_path: Path) -> None:
    r = Rig(tmp_path)
    r.up()
    r.rt.on_message(T.unit_config("balie-3"), b"")
    assert r.distinct() == []
    r.rt.on_message(T.unit_config("balie-3"), b"{nope")
    [ev] = r.distinct()
    assert ev.fault is m.FaultKind.CONFIG and "unreadable config" in ev.detail


# --------------------------------------------------------------------------- the console's serials


def test_serials_stay_while_the_content_stays_and_grow_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "console.db.configs.json"
    cv = ConfigVersions(path)
    first = {p.unit_id: p for p in cv.pushes(SITE, NOW)}
    again = {p.unit_id: p for p in ConfigVersions(path).pushes(SITE, NOW + timedelta(hours=1))}
    assert {u: p.version for u, p in first.items()} == {u: p.version for u, p in again.items()}
    unit = SITE.unit("balie-3").model_copy(update={"heartbeat_s": 9.0})
    changed = SITE.model_copy(update={"units": tuple(unit if u.id == "balie-3" else u for u in SITE.units)})
    earlier = NOW - timedelta(days=1)  # a clock stepped back: still newer
    later = {p.unit_id: p for p in ConfigVersions(path).pushes(changed, earlier)}
    assert later["balie-3"].serial > first["balie-3"].serial
    assert later["balie-1"].version == first["balie-1"].version
    # the file lost and the clock behind: a unit's report lifts the floor
    lost = ConfigVersions(tmp_path / "other.json")
    lost.observe("balie-3", later["balie-3"].version)
    assert lost.behind() is True
    assert {p.unit_id: p for p in lost.pushes(changed, earlier)}["balie-3"].serial > later["balie-3"].serial
    assert lost.behind() is False


# --------------------------------------------------------------------------- supervision


def hb(uid: str, boot: uuid.UUID, version: str | None) -> HeartbeatIn:
    return HeartbeatIn(
        m.Heartbeat(
            unit_id=uid,
            boot_id=boot,
            seq=1,
            sent_at=NOW,
            interval_s=5,
            uptime_s=1,
            outbox_depth=0,
            firmware_version="0.9",
            test_mode=False,
            config_version=version,
            os_name="Debian GNU/Linux 12 (bookworm)",
            kernel="6.1.0",
            python="3.11.2",
        )
    )


def test_the_console_keeps_versions_and_sees_a_unit_that_did_not_take_the_config() -> None:
    s = UnitsState.initial(SITE, NOW, SupervisionPolicy())
    assert s.health("balie-3").config_current is None  # not heard yet
    boot = uuid.uuid4()
    s, _ = supervision.step(s, hb("balie-3", boot, None), NOW)
    h = s.health("balie-3")
    assert h.config_current is False and h.firmware_version == "0.9" and h.os_name.startswith("Debian")
    digest = m.config_digest(unit_content(SITE.site.id, SITE.site.timezone, SITE.unit("balie-3")))
    s, eff = supervision.step(s, hb("balie-3", boot, m.config_version(5, digest)), NOW + timedelta(seconds=5))
    assert s.health("balie-3").config_current is True
    assert any(getattr(e, "unit_id", None) == "balie-3" for e in eff)  # the version change is published
    assert (h.python, h.kernel) == ("3.11.2", "6.1.0")


def test_a_refused_config_tells_facilities_why_and_clears_once_the_unit_runs_the_current_one() -> None:
    s = UnitsState.initial(SITE, NOW, SupervisionPolicy())
    boot = uuid.uuid4()
    s, _ = supervision.step(s, hb("balie-3", boot, None), NOW)
    ev = m.UnitEvent(
        event_id=uuid.uuid4(),
        unit_id="balie-3",
        kind=m.EventKind.FAULT,
        fault=m.FaultKind.CONFIG,
        seq=1,
        boot_id=boot,
        occurred_at=NOW,
        sent_at=NOW,
        detail="invalid config: unit: GPIO 5 used twice on unit balie-3",
    )
    s, eff = supervision.step(s, FaultIn(ev), NOW)
    [n] = [e.notice for e in eff if isinstance(e, Notify)]
    assert n.text_key == "config_refused" and "GPIO 5 used twice" in n.detail["reason"]
    assert any(isinstance(e, Record) and isinstance(e.fact, FaultRaised) for e in eff)
    assert "unit:config" in s.health("balie-3").faults
    digest = m.config_digest(unit_content(SITE.site.id, SITE.site.timezone, SITE.unit("balie-3")))
    s, eff = supervision.step(s, hb("balie-3", boot, m.config_version(7, digest)), NOW + timedelta(seconds=5))
    assert any(isinstance(e, Record) and isinstance(e.fact, FaultCleared) for e in eff)
    assert "unit:config" not in s.health("balie-3").faults


def test_the_units_view_filters_on_firmware_and_stale_config() -> None:
    cur = {"firmware_version": "1.2", "config_current": True}
    old = {"firmware_version": "1.1", "config_current": False}
    unknown: dict[str, object] = {"firmware_version": "", "config_current": None}
    rows = [cur, old, unknown]
    assert [h for h in rows if unit_matches(h, "1.2", None, False)] == [cur]
    assert [h for h in rows if unit_matches(h, None, "1.2", False)] == [old, unknown]
    assert [h for h in rows if unit_matches(h, None, None, True)] == [old]


# --------------------------------------------------------------------------- the TUI's units view


def test_the_units_view_shows_mixed_firmware_and_units_without_the_current_config() -> None:
    from stilalarm.console.tui.model.context import Ctx
    from stilalarm.console.tui.model.received import Received
    from stilalarm.console.tui.model.units import build_units, versions_summary
    from stilalarm.console.tui.texts import EN, NL

    ctx = Ctx(SITE, "an", NL)
    rec = Received()
    rec = rec.with_unit(
        m.UnitHealth(
            unit_id="balie-1",
            online=True,
            firmware_version="1.2",
            config_version="5-0123456789ab",
            config_current=True,
            os_name="Debian GNU/Linux 12 (bookworm)",
            python="3.11.2",
        )
    )
    rec = rec.with_unit(
        m.UnitHealth(
            unit_id="balie-2",
            online=True,
            firmware_version="1.1",
            config_version="4-ba9876543210",
            config_current=False,
        )
    )
    rows = build_units(rec, ctx, NOW)
    by = {r.unit_id: r for r in rows}
    assert by["balie-1"].config_text == "01234567" and not by["balie-1"].config_stale
    assert by["balie-1"].os_text == "Debian GNU/Linux 12 (bookworm) · 3.11.2"
    assert by["balie-2"].config_text == "ba987654 OUD" and by["balie-2"].config_stale
    assert by["balie-3"].config_text == "—" and not by["balie-3"].config_stale  # never heard
    assert versions_summary(rows, NL) == "Firmware: 1.1 ×1, 1.2 ×1 · 1 zonder de huidige configuratie"
    assert versions_summary(rows, EN).endswith("1 without the current config")
    same = Received().with_unit(m.UnitHealth(unit_id="balie-1", online=True, firmware_version="1.2"))
    assert versions_summary(build_units(same, ctx, NOW), NL) == ""  # one version, nothing stale
