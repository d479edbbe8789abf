"""Hostile and broken input, and unit supervision, against the real service and a real mosquitto.

Bad messages are published with `mosquitto_pub` (a client nobody here wrote). The broker is
rendered from an inventory that knows one more lead ("zed") than the console's: a stale
inventory, so an unknown person can really send a command.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stilalarm.broker_config.local import LocalBroker
from stilalarm.console.store import Store
from stilalarm.devkit.servicerun import FAST_SITE, ScriptedUnit, ServiceProcess
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import (
    AckCmd,
    CommandReply,
    Heartbeat,
    LinkState,
    Notification,
    NotifyReason,
    UnitEvent,
    UnitStatus,
    encode,
    parse,
    utcnow,
)
from stilalarm.wire.topics import Topics
from tests.harness import Capture, mosquitto_pub, wait_until

SITE = parse_site(FAST_SITE)
BROKER_SITE = parse_site(FAST_SITE + '\n[[people]]\nid = "zed"\nname = "Zed Onbekend"\nroles = ["lead"]\n')
T = Topics(SITE.site.id)


@dataclass
class Rig:
    broker: LocalBroker
    console: ServiceProcess
    seen: Capture

    def notes(self, person: str) -> list[Notification]:
        return self.seen.notifications(person)

    def replies(self, person: str) -> list[CommandReply]:
        return [parse(CommandReply, p) for p in self.seen.on(T.person_reply(person))]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    site_file = tmp_path / "site.toml"
    site_file.write_text(FAST_SITE)
    broker = LocalBroker(BROKER_SITE, tmp_path / "broker")
    broker.start()
    seen = Capture(broker.creds("observer"), (f"{T.base}/#",)).start()
    console = ServiceProcess(site_file, tmp_path / "console.db", broker.dir, tmp_path / "console.log")
    console.start()
    console.wait_ready()
    yield Rig(broker, console, seen)
    console.kill()
    seen.stop()
    broker.kill()


def ack(person: str, incident: str = "20261128-0001") -> AckCmd:
    return AckCmd(cmd_id=uuid.uuid4(), person_id=person, issued_at=utcnow(), incident_id=incident)


def test_invalid_spoofed_unknown_and_oversized_input_is_logged_counted_and_harmless(rig: Rig) -> None:
    unit = rig.broker.creds("unit-balie-1")
    evt = T.unit_event("balie-1")
    now = utcnow()
    spoof = UnitEvent(
        event_id=uuid.uuid4(),
        unit_id="wachtzaal",  # balie-1 pretends to be the waiting room
        kind="alarm",  # type: ignore[arg-type]
        button_id="knop",
        seq=1,
        boot_id=uuid.uuid4(),
        occurred_at=now,
        sent_at=now,
    )
    for payload in (
        b"{nope",
        b'{"v": 1, "kind": "alarm"}',
        encode(spoof),
        b'{"pad": "' + b"x" * 20000 + b'"}',
    ):
        assert mosquitto_pub(unit, evt, payload).returncode == 0
    zed = ack("zed")
    assert mosquitto_pub(rig.broker.creds("person-zed"), T.person_cmd("zed"), encode(zed)).returncode == 0
    fien = ack("fien")
    assert mosquitto_pub(rig.broker.creds("person-fien"), T.person_cmd("fien"), encode(fien)).returncode == 0
    broken = b'{"v": 1, "kind": "ack", "cmd_id": "%s"}' % str(uuid.uuid4()).encode()
    assert mosquitto_pub(rig.broker.creds("person-an"), T.person_cmd("an"), broken).returncode == 0

    # the service keeps working: a valid alarm right after still gets through
    good = ScriptedUnit(unit, "balie-1").start()
    try:
        ev = good.press()
        wait_until(lambda: good.receipt_for(ev.event_id) is not None, 10, "the receipt of the valid alarm")
        wait_until(lambda: rig.notes("chris"), 5, "the lead's page for the valid alarm")
    finally:
        good.stop()
    assert [(r.cmd_id, r.ok, r.code) for r in rig.replies("zed")] == [(zed.cmd_id, False, "not_authorised")]
    assert [(r.cmd_id, r.ok, r.code) for r in rig.replies("fien")] == [(fien.cmd_id, False, "not_authorised")]
    assert fien.cmd_id in {r.cmd_id for r in rig.replies("fien")} and rig.replies("fien")[0].reason
    assert [(r.ok, r.code) for r in rig.replies("an")] == [(False, "invalid")]
    assert rig.notes("an") == []  # the spoofed alarm for the waiting room paged nobody

    assert rig.console.terminate() == 0
    log = rig.console.log()
    for reason in ("invalid_json", "invalid_schema", "id_mismatch", "oversized", "unknown_person"):
        assert f"refused message ({reason})" in log, reason
    assert (
        "lost broker connection: Normal" not in log.split("signal SIGTERM")[0]
    )  # never kicked by the broker
    store = Store(rig.console.db, readonly=True)
    assert store.rejects() == {
        "invalid_json": 1,
        "invalid_schema": 2,  # the event without fields, and an's command without fields
        "id_mismatch": 1,
        "oversized": 1,
        "unknown_person": 1,
    }
    (row,) = store.incidents()
    assert row["unit_id"] == "balie-1"


def _status(unit: str, state: LinkState, reason: str, boot: uuid.UUID) -> bytes:
    at = utcnow() if state is LinkState.ONLINE else None
    return encode(UnitStatus(unit_id=unit, state=state, boot_id=boot, reason=reason, at=at))  # type: ignore[arg-type]


def _beat(unit: str, boot: uuid.UUID) -> bytes:
    hb = Heartbeat(
        unit_id=unit,
        boot_id=boot,
        seq=1,
        sent_at=utcnow(),
        interval_s=1,
        uptime_s=3,
        outbox_depth=0,
        firmware_version="test",
        test_mode=False,
    )
    return encode(hb)


def test_unit_last_will_notifies_facilities_and_the_lead(rig: Rig) -> None:
    creds = rig.broker.creds("unit-balie-1")
    boot = uuid.uuid4()
    assert (
        mosquitto_pub(
            creds,
            T.unit_status("balie-1"),
            _status("balie-1", LinkState.ONLINE, "connected", boot),
            retain=True,
        ).returncode
        == 0
    )
    exe = shutil.which("mosquitto_sub")
    assert exe, "mosquitto_sub missing: apt-get install -y mosquitto-clients"
    holder = subprocess.Popen(
        [
            *(exe, "-h", creds.host, "-p", str(creds.port), "-u", creds.username, "-P", creds.password),
            *("-i", "unit-balie-1", "-c", "-q", "1", "-t", T.unit_cmd("balie-1"), "-k", "60"),
            *("--will-topic", T.unit_status("balie-1"), "--will-qos", "1", "--will-retain"),
            *("--will-payload", _status("balie-1", LinkState.OFFLINE, "lost", boot).decode()),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        log = rig.broker.log_path
        # the holder's own connection (client id = username), not a mosquitto_pub of the same login
        wait_until(lambda: " as unit-balie-1 (" in log.read_text(errors="replace"), 5, "the unit connected")
        mosquitto_pub(creds, T.unit_heartbeat("balie-1"), _beat("balie-1", boot), qos=0)
        holder.send_signal(signal.SIGKILL)  # the unit vanishes: the broker publishes its will
    finally:
        holder.wait(5)

    def lost(person: str) -> list[Notification]:
        return [n for n in rig.notes(person) if n.unit_id == "balie-1" and n.reason is NotifyReason.FAULT]

    wait_until(lambda: lost("fien") and lost("gert"), 5, "facilities notified of the lost unit")
    assert "connection lost" in lost("fien")[0].body  # Fien reads English
    assert "verbinding verloren" in lost("gert")[0].body
    wait_until(lambda: any("geen werkende alarmknop" in n.body for n in lost("chris")), 5, "the lead told")
    assert [n for n in rig.notes("an") if n.unit_id == "balie-1"] == []  # not An's room


def test_silent_unit_is_offline_after_three_heartbeat_intervals(rig: Rig) -> None:
    creds = rig.broker.creds("unit-wachtzaal")
    boot = uuid.uuid4()
    mosquitto_pub(
        creds,
        T.unit_status("wachtzaal"),
        _status("wachtzaal", LinkState.ONLINE, "connected", boot),
        retain=True,
    )
    mosquitto_pub(creds, T.unit_heartbeat("wachtzaal"), _beat("wachtzaal", boot), qos=0)

    def silent() -> list[Notification]:
        return [n for n in rig.notes("gert") if n.unit_id == "wachtzaal" and "geen hartslag" in n.body]

    wait_until(lambda: bool(silent()), 10, "the silent unit reported offline")
    wait_until(
        lambda: any(b'"online":false' in p for p in rig.seen.on(T.unitstate("wachtzaal"))),
        5,
        "retained UnitHealth offline",
    )
