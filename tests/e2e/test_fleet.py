"""Config over MQTT and console reload with real processes (issue 17).

Real mosquitto with the project's config, the real `alarm-console serve`, the real
`alarm-unit run --sim --control-stdin` (the same UnitRuntime as on a Pi, simulated pins). site.toml
changes (a heartbeat interval and a button's pins of one unit); `alarm-console reload` makes the
running console take it: the unit applies the pushed config (its heartbeat reports the new version,
its new pins raise alarms), an alarm pressed while the console was frozen during the change is not
lost, the open incident survives the reload with its escalation timer still firing. A config the
unit cannot take is refused and facilities are told why; an invalid site.toml is refused by the
console, which keeps running on the old one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stilalarm.broker_config.local import LocalBroker
from stilalarm.devkit.servicerun import FAST_SITE, ServiceProcess
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import (
    IncidentState,
    NotifyReason,
    UnitConfigPush,
    UnitHealth,
    config_digest,
    encode,
    parse,
    utcnow,
)
from stilalarm.wire.topics import Topics
from tests.harness import Capture, mosquitto_pub, wait_until

UNIT = "spreekkamer-1"
# level 3 of the sociale-dienst team 25 s after the press: the reload happens before it is due
SITE_V1 = FAST_SITE.replace("after_s = 2\n", "after_s = 25\n", 1)
HEAD = '[[units]]\nid = "spreekkamer-1"\nroom = "spreekkamer-1"\n'
OLD_UNIT = HEAD + 'heartbeat_s = 1\nbuttons = [{ id = "knop", contact = "dual", pin = 5, nc_pin = 6 }]\n'
NEW_UNIT = HEAD + 'heartbeat_s = 2\nbuttons = [{ id = "knop", contact = "dual", pin = 19, nc_pin = 20 }]\n'
assert OLD_UNIT in SITE_V1
SITE_V2 = SITE_V1.replace(OLD_UNIT, NEW_UNIT)
SITE = parse_site(SITE_V1)
T = Topics(SITE.site.id)
BIN = Path(sys.executable).parent


@dataclass
class Rig:
    dir: Path
    site_file: Path
    broker: LocalBroker
    console: ServiceProcess
    seen: Capture
    unit: subprocess.Popen[bytes]

    def send(self, line: str) -> None:
        assert self.unit.stdin is not None
        self.unit.stdin.write(line.encode() + b"\n")
        self.unit.stdin.flush()

    def unit_lines(self, event: str) -> list[dict[str, object]]:
        text = (self.dir / "unit.out").read_text(errors="replace")
        out = []
        for line in text.splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("event") == event:
                out.append(rec)
        return out

    def health(self) -> UnitHealth | None:
        got = [p for p in self.seen.on(T.unitstate(UNIT)) if p]
        return parse(UnitHealth, got[-1]) if got else None

    def incident(self) -> IncidentState | None:
        got = [
            parse(IncidentState, p)
            for t, p, _r in self.seen.messages
            if t.startswith(f"{T.base}/incident/") and p
        ]
        return got[-1] if got else None

    def reload(self) -> subprocess.CompletedProcess[str]:
        argv = [
            str(BIN / "alarm-console"),
            "reload",
            "--site",
            str(self.site_file),
            "--db",
            str(self.console.db),
        ]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60)

    def wanted(self, site_text: str) -> str:
        from stilalarm.inventory.places import unit_content

        site = parse_site(site_text)
        return config_digest(unit_content(site.site.id, site.site.timezone, site.unit(UNIT)))[:12]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    site_file = tmp_path / "site.toml"
    site_file.write_text(SITE_V1)
    broker = LocalBroker(SITE, tmp_path / "broker")
    broker.start()
    seen = Capture(broker.creds("observer"), (f"{T.base}/#",)).start()
    console = ServiceProcess(site_file, tmp_path / "console.db", broker.dir, tmp_path / "console.log")
    console.start()
    console.wait_ready()
    argv = [str(BIN / "alarm-unit"), "run", "--config", str(broker.dir / "units" / f"{UNIT}.json")]
    argv += ["--state-dir", str(tmp_path / "state"), "--sim", "--control-stdin"]
    with open(tmp_path / "unit.out", "wb") as out, open(tmp_path / "unit.err", "wb") as err:
        unit = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out, stderr=err)
    rig = Rig(tmp_path, site_file, broker, console, seen, unit)
    try:
        yield rig
    finally:
        if unit.poll() is None:
            unit.send_signal(signal.SIGTERM)
            try:
                unit.wait(20)
            except subprocess.TimeoutExpired:
                unit.kill()
        console.kill()
        seen.stop()
        broker.kill()


def test_a_changed_site_reaches_the_unit_without_losing_the_alarm_or_the_incidents_timer(rig: Rig) -> None:
    def runs(digest: str) -> bool:
        h = rig.health()
        return h is not None and h.online and h.config_current is True and digest in (h.config_version or "")

    wait_until(lambda: runs(rig.wanted(SITE_V1)), 30, "the unit runs the console's config")
    h1 = rig.health()
    assert h1 is not None and h1.python and h1.kernel and h1.firmware_version  # versions and OS kept
    first_version = h1.config_version

    # an alarm opens an incident; its level 3 is due 25 s later
    rig.send(f"press {UNIT}")
    wait_until(lambda: rig.incident() is not None, 20, "incident opened")
    inc = rig.incident()
    assert inc is not None
    wait_until(lambda: rig.seen.alarm_notifications("an"), 20, "the lead paged")
    wait_until(lambda: rig.unit_lines("release"), 20, "the button released")

    # the console freezes; a second press is stored on the unit and waits for its receipt
    assert rig.console.proc is not None
    os.kill(rig.console.proc.pid, signal.SIGSTOP)
    try:
        rig.send(f"press {UNIT}")
        wait_until(lambda: len(rig.unit_lines("alarm_stored")) == 2, 20, "second press stored on the unit")
        assert len(rig.unit_lines("receipt")) == 1  # the second is pending
        rig.site_file.write_text(SITE_V2)
        done = rig.reload()
        assert done.returncode == 0, done.stderr
        assert "reloads it" in done.stdout
    finally:
        os.kill(rig.console.proc.pid, signal.SIGCONT)
    reload_at = utcnow()

    wait_until(lambda: runs(rig.wanted(SITE_V2)), 30, "the unit runs the new config")
    h2 = rig.health()
    assert h2 is not None and h2.config_version != first_version
    [applied] = [c for c in rig.unit_lines("config") if c.get("version") == h2.config_version]
    assert applied["pins_changed"] is True
    wait_until(lambda: len(rig.unit_lines("receipt")) == 2, 20, "the pending alarm receipted")
    assert {r["incident_id"] for r in rig.unit_lines("receipt")} == {inc.incident_id}  # one incident
    assert "inventory reloaded" in rig.console.log()

    # the open incident's escalation timer still fires after the reload: level 3, all leads, Bel 101
    def level3() -> bool:
        return any(
            n.incident_id == inc.incident_id and n.level == 3 and n.at >= reload_at
            for n in rig.seen.alarm_notifications("chris")
        )

    wait_until(level3, 40, "level 3 of the incident after the reload")

    # the new pins raise alarms (the simulated button is now on GPIO 19/20)
    wait_until(lambda: len(rig.unit_lines("release")) == 2, 20, "the button released")
    rig.send(f"press {UNIT}")
    wait_until(lambda: len(rig.unit_lines("receipt")) == 3, 20, "a press on the new pins receipted")

    # a restart of the unit runs the applied config at once (stored in its state directory)
    stored = json.loads((rig.dir / "state" / f"config-{UNIT}.json").read_text())
    assert stored["content"]["unit"]["heartbeat_s"] == 2 and "password" not in json.dumps(stored)


def test_a_config_the_unit_cannot_take_is_refused_and_facilities_told_why(rig: Rig) -> None:
    def current() -> bool:
        h = rig.health()
        return h is not None and h.online and h.config_current is True

    wait_until(current, 30, "the unit runs the console's config")
    before = rig.health()
    assert before is not None
    # a config whose LED sits on the button's pin (a console of another version, or a hand-made
    # one: site.toml validation never lets it through), published with the console's own login
    unit = SITE.unit(UNIT).model_dump(mode="json")
    content = {"site_id": SITE.site.id, "timezone": SITE.site.timezone, "unit": {**unit, "led_pin": 5}}
    bad = UnitConfigPush(
        unit_id=UNIT,
        serial=int(time.time() * 1000) + 10**6,
        digest=config_digest(content),
        issued_at=utcnow(),
        content=content,
    )
    mosquitto_pub(rig.broker.creds("console"), T.unit_config(UNIT), encode(bad), retain=True)

    def told(person: str, words: str) -> bool:
        return any(
            n.reason is NotifyReason.FAULT
            and n.unit_id == UNIT
            and words in n.body
            and "GPIO 5 used twice" in n.body
            for n in rig.seen.notifications(person)
        )

    wait_until(lambda: told("gert", "weigert de nieuwe configuratie"), 30, "facilities (nl) told why")
    wait_until(lambda: told("fien", "refuses the new configuration"), 30, "facilities (en) told why")
    # the unit's retained health follows the notices (the console pages first, then publishes state)
    wait_until(
        lambda: (h := rig.health()) is not None and "unit:config" in h.faults, 10, "the fault in the health"
    )
    h = rig.health()
    assert h is not None and h.config_version == before.config_version

    # an invalid site.toml: refused with the reason, by the command and by the service itself
    rig.site_file.write_text(SITE_V1.replace("pin = 5, nc_pin = 6", "pin = 5, nc_pin = 5"))
    done = rig.reload()
    assert done.returncode == 2 and "not reloaded" in done.stderr and "GPIO 5" in done.stderr
    assert rig.console.proc is not None
    os.kill(rig.console.proc.pid, signal.SIGHUP)
    wait_until(lambda: "reload refused, the running inventory is kept" in rig.console.log(), 20, "refused")
    assert rig.console.proc.poll() is None

    # a good change applied the way an operator does it: render, then the console reloads and
    # pushes the inventory's config again; the unit takes it, the fault clears
    rig.site_file.write_text(SITE_V2)
    argv = [str(BIN / "alarm-broker"), "render", "--site", str(rig.site_file), "--out", str(rig.broker.dir)]
    argv += ["--port", str(rig.broker.port), "--reload-console", str(rig.console.db)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "reloads it" in done.stdout

    def cleared() -> bool:
        h = rig.health()
        return h is not None and h.config_current is True and "unit:config" not in h.faults

    wait_until(cleared, 30, "the new config taken and the fault cleared")
