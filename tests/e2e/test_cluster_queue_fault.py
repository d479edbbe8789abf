"""A console that cannot limit the cluster's queued QoS1 messages (docs/HA.md, item 13) serves
alarms all the same (fail open) and tells facilities what to fix (not silent): a real 3-node
cluster, a real `alarm-console serve` (plain and `--ha`), a `ScriptedUnit`.

The fault is made the way it happens in the field: the limits rendered into console-log.json
do not fit the nodes' store (here ten stores; NATS reserves `max_bytes`, so it refuses them),
as after raising `[cluster] queued_store_percent` in a region without rendering every site.
The control: the same console with the rendered limits tells nobody."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stilalarm.devkit.servicerun import FAST_SITE, ScriptedUnit, ServiceProcess
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import Notification, NotifyReason
from stilalarm.wire.topics import Topics
from tests.harness import Capture, started_cluster, wait_until

STORE_MB = 16
SMALL_STORE = FAST_SITE + f"\n[cluster]\nmax_file_store_mb = {STORE_MB}\n"
SITE = parse_site(SMALL_STORE)
T = Topics(SITE.site.id)
FACILITIES = ("fien", "gert")
LIMITED = "cluster: the queued QoS1 messages are limited"


@pytest.mark.parametrize("mode", ["serve", "serve --ha"])
@pytest.mark.parametrize("fits", [False, True], ids=["limits-refused", "control"])
def test_a_console_that_cannot_limit_the_queue_serves_alarms_and_tells_facilities(
    tmp_path: Path, mode: str, fits: bool
) -> None:
    site_file = tmp_path / "site.toml"
    site_file.write_text(SMALL_STORE)
    with started_cluster(SITE, tmp_path / "cluster") as cluster:
        if not fits:
            path = cluster.dir / "console-log.json"
            cfg = json.loads(path.read_text())
            cfg["mqtt_queue"]["max_bytes"] = 10 * STORE_MB * 1024 * 1024
            path.write_text(json.dumps(cfg))
        console = ServiceProcess(site_file, tmp_path / "a.db", cluster.dir, tmp_path / "a.log")
        seen = Capture(cluster.creds("observer", node=None), (f"{T.base}/#",), persistent=True).start()
        unit = ScriptedUnit(cluster.creds("unit-spreekkamer-1", node=None), "spreekkamer-1")
        try:
            console.start(["--ha", "a", "--ha-ttl", "3"] if mode == "serve --ha" else [])
            unit.start(20)
            ev = unit.press()
            wait_until(
                lambda: unit.receipt_for(ev.event_id) is not None, 30, f"the receipt:\n{console.log()}"
            )
            wait_until(lambda: seen.alarm_notifications("an") != [], 10, "the lead paged")
            if fits:
                wait_until(lambda: LIMITED in console.log(), 45, f"the limits set:\n{console.log()}")
            else:
                wait_until(
                    lambda: all(_faults(seen, p) for p in FACILITIES),
                    45,
                    f"facilities told:\n{console.log()}",
                )
        finally:
            unit.stop()
            console.kill()
            seen.stop()
        faults = {p: _faults(seen, p) for p in FACILITIES}
        if fits:
            assert faults == {p: [] for p in FACILITIES}, faults
            assert "could not" not in console.log()
            return
        assert "could not limit the queued QoS1 messages" in console.log()
        assert LIMITED not in console.log()
        fien, gert = faults["fien"], faults["gert"]
        assert len(fien) == 1 and len(gert) == 1, faults  # once per start, not per retry
        assert fien[0].title == "FAULT cluster: queue not limited"  # fien reads English
        assert gert[0].title == "STORING cluster: wachtrij niet begrensd"
        assert "queued_store_percent" in gert[0].body and "Laat IT dit meteen herstellen" in gert[0].body
        assert not any(n.reason is NotifyReason.FAULT for n in seen.notifications("an"))  # leads not bothered


def _faults(seen: Capture, person: str) -> list[Notification]:
    return [n for n in seen.notifications(person) if n.reason is NotifyReason.FAULT and "cluster" in n.title]
