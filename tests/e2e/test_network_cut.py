"""A desk unit loses its network (a real network namespace, its link taken down) while the
staff member presses: the console reports the unit offline, the alarm waits in the unit's
outbox, and when the network returns it is delivered: one incident, receipted.

Needs root and `ip netns` (this project's CI runs as root); without them the test FAILS,
it never skips.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from bench.netns import Netns
from stilalarm.broker_config.local import free_port
from stilalarm.devkit.localsystem import LocalSystem
from stilalarm.devkit.unitdoubles import JsonLineProcess
from stilalarm.wire.messages import Notification, NotifyReason, parse
from tests.e2e.test_system import SITE, SITE_TEXT, incidents_in_db

UNIT = "spreekkamer-1"


def test_unit_network_cut_then_press_is_delivered_when_the_network_returns(
    tmp_path: Path, netns: Netns
) -> None:
    site_file = tmp_path / "site.toml"
    site_file.write_text(SITE_TEXT)
    s = LocalSystem(SITE, site_file, tmp_path / "sys")
    ns_port = free_port()
    conf = s.broker.dir / "mosquitto.conf"  # a second listener on the host side of the veth pair
    conf.write_text(conf.read_text() + f"\nlistener {ns_port} {netns.host_addr}\n")
    unit: JsonLineProcess | None = None
    try:
        s.start_broker()
        s.start_observer()
        s.start_console()
        s.wait_console_online(20)
        cfg = json.loads((s.broker.dir / "units" / f"{UNIT}.json").read_text())
        cfg["broker"]["host"], cfg["broker"]["port"] = netns.host_addr, ns_port
        cfg_path = tmp_path / f"{UNIT}.json"
        cfg_path.write_text(json.dumps(cfg))
        os.chmod(cfg_path, 0o600)
        alarm_unit = str(Path(sys.executable).parent / "alarm-unit")
        argv = [
            *netns.prefix(),
            alarm_unit,
            "run",
            "--config",
            str(cfg_path),
            "--state-dir",
            str(tmp_path / "u"),
        ]
        unit = JsonLineProcess([*argv, "--sim", "--control-stdin"], tmp_path / "unit.log")
        unit.wait_for("link", state="up", timeout=30)
        s.observed.wait(
            lambda t, p: t == s.topics.unitstate(UNIT) and b'"online":true' in p,
            15,
            "unit online at the console",
        )

        netns.cut()

        def offline_notice(t: str, p: bytes) -> bool:
            if t != s.topics.person_notify("fien"):
                return False
            n = parse(Notification, p)
            return n.reason is NotifyReason.FAULT and n.unit_id == UNIT

        s.observed.wait(offline_notice, 20, "facilities told the unit is offline")
        unit.send(f"press {UNIT}")
        (stored,) = unit.wait_for("alarm_stored", timeout=10)
        assert not unit.find("receipt", event_id=stored["event_id"])  # nothing gets through yet
        assert incidents_in_db(s) == []

        netns.restore()
        (receipt,) = unit.wait_for("receipt", timeout=60, event_id=stored["event_id"])
        assert receipt["incident_id"]
        assert incidents_in_db(s) == [(receipt["incident_id"], UNIT)]
    finally:
        if unit is not None:
            unit.kill()
        s.stop()
