"""The cluster's JetStream store filled by the public enrolment login (docs/HA.md, open item 11).

The attack: the `enroll` login's password is public (every Pi has it), and on the cluster profile
it may publish any enrolment request topic (NATS 2.9 has no `%c`). A request may be retained, and
nats-server keeps a retained message in the `$MQTT_rmsgs` stream, in the same JetStream store as
every session, queued QoS1 message, the consoles' log and their lease. Retained requests under
made-up fingerprints fill the store; then JetStream refuses every write: the lease cannot be
renewed (no console is active), units cannot even connect (their session cannot be stored), and
a press is neither receipted nor paged. Measured on 3 nodes with the smallest store the inventory
allows (16 MiB per node): 208 requests of 60 KB, then nothing works. A fix must make this test
pass; until then it is a strict expected failure (it turns red the day it passes).
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from stilalarm.devkit.servicerun import FAST_SITE, ScriptedUnit, ServiceProcess
from stilalarm.inventory.load import parse_site
from stilalarm.wire.enroll import ENROLL_PASSWORD, ENROLL_USER
from stilalarm.wire.topics import Topics
from tests.harness import Capture, started_cluster, wait_until

SMALL_STORE = FAST_SITE + "\n[cluster]\nmax_file_store_mb = 16\n"
SITE = parse_site(SMALL_STORE)
T = Topics(SITE.site.id)


def fill_with_retained_requests(port: int, limit: int = 600) -> int:
    """Retained 60 KB enrolment requests under new fingerprints until the cluster stops
    acknowledging them; how many it took."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=secrets.token_hex(16))
    c.username_pw_set(ENROLL_USER, ENROLL_PASSWORD)
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        for i in range(limit):
            info = c.publish(T.enroll_request(secrets.token_hex(16)), b"x" * 60_000, qos=1, retain=True)
            try:
                info.wait_for_publish(6)
            except RuntimeError:
                return i
            if not info.is_published():
                return i
        return limit
    finally:
        c.loop_stop()
        c.disconnect()


def test_an_alarm_is_paged_after_the_public_enrol_login_filled_the_store(tmp_path: Path) -> None:
    site_file = tmp_path / "site.toml"
    site_file.write_text(SMALL_STORE)
    with started_cluster(SITE, tmp_path / "cluster") as cluster:
        console = ServiceProcess(site_file, tmp_path / "a.db", cluster.dir, tmp_path / "a.log")
        seen = Capture(cluster.creds("observer", node=None), (f"{T.base}/#",), persistent=True).start()
        units: list[ScriptedUnit] = []
        try:
            console.start(["--ha", "a", "--ha-ttl", "3"])
            wait_until(lambda: "ACTIVE console a " in console.log(), 60, f"a active:\n{console.log()}")
            for uid in ("balie-1", "spreekkamer-1"):
                units.append(ScriptedUnit(cluster.creds(f"unit-{uid}", node=None), uid).start(20))
            wait_until(lambda: seen.on(T.unitstate("spreekkamer-1")) != [], 30, "the units at the console")
            before = units[0].press()  # the control: an alarm before the attack is receipted
            wait_until(lambda: units[0].receipt_for(before.event_id) is not None, 30, "the control's receipt")
            filled = fill_with_retained_requests(cluster.port)
            print(f"\nthe store took {filled} retained 60 KB requests from the public enrol login")
            assert filled < 600, "the attack did not fill the store"
            ev = units[1].press()
            t0 = time.monotonic()
            wait_until(lambda: units[1].receipt_for(ev.event_id) is not None, 30, "the receipt")
            wait_until(lambda: seen.alarm_notifications("an") != [], 10, "the lead paged")
            print(f"receipted and paged {time.monotonic() - t0:.1f} s after the press")
        finally:
            for u in units:
                u.stop()
            console.kill()
            seen.stop()
