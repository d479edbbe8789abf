"""The cluster's JetStream store filled by the public enrolment login (docs/HA.md, open item 11).

The attack: the `enroll` login's password is public (every Pi has it), and on the cluster profile
it may publish any enrolment request topic (NATS 2.9 has no `%c`). A request may be retained, and
nats-server keeps a retained message in a JetStream stream. Before the fix that stream shared the
site account's store with every session, queued QoS1 message, the consoles' log and their lease:
retained requests under made-up fingerprints filled it (208 requests of 60 KB on the smallest
store the inventory allows, 16 MiB per node), then the lease could not be renewed, units could not
connect, and a press was neither receipted nor paged. The fix: enrolment lives in an account of
its own with an 8 MiB JetStream quota.

The attacker here sends far more than a node's whole store, as fast as the connection takes it
(QoS0: nothing to wait for). Whether nats-server acknowledges a QoS1 retained publish it could not
store depends on timing (here it dropped the client after ~45; in one CI run it acknowledged all
600), so the test does not count acknowledgements: the proof that the attack reached the limit is
the node's own log line naming the enrolment account.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from stilalarm.broker_config.local import LocalCluster
from stilalarm.devkit.servicerun import FAST_SITE, ScriptedUnit, ServiceProcess
from stilalarm.inventory.load import parse_site
from stilalarm.wire.enroll import ENROLL_PASSWORD, ENROLL_USER
from stilalarm.wire.topics import Topics
from tests.harness import Capture, started_cluster, wait_until

STORE_MB = 16
SMALL_STORE = FAST_SITE + f"\n[cluster]\nmax_file_store_mb = {STORE_MB}\n"
SITE = parse_site(SMALL_STORE)
T = Topics(SITE.site.id)
REQUEST = b"x" * 60_000
QUOTA_HIT = 'JetStream resource limits exceeded for account: "STILALARM_ENROLL"'


def flood_with_retained_requests(port: int, count: int) -> int:
    """`count` retained 60 KB enrolment requests under new fingerprints, QoS0 as fast as the
    socket takes them; how many were handed to the broker (a dropped connection is reconnected)."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=secrets.token_hex(16))
    c.username_pw_set(ENROLL_USER, ENROLL_PASSWORD)
    c.connect("127.0.0.1", port)
    c.loop_start()
    sent = 0
    try:
        for _ in range(count):
            info = c.publish(T.enroll_request(secrets.token_hex(16)), REQUEST, qos=0, retain=True)
            sent += info.rc == mqtt.MQTT_ERR_SUCCESS
            time.sleep(0.005)  # lets paho's network thread write it out before the next
        return sent
    finally:
        c.loop_stop()
        c.disconnect()


def quota_hit(cluster: LocalCluster) -> bool:
    """Some node logged that the enrolment account reached its JetStream quota."""
    return any(
        QUOTA_HIT in cluster.log_path(i).read_text(errors="replace") for i in range(len(cluster.nodes))
    )


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
            sent = flood_with_retained_requests(cluster.port, 600)
            print(f"\nthe public enrol login handed the cluster {sent} retained 60 KB requests")
            assert sent * len(REQUEST) > 2 * STORE_MB * 1024 * 1024, "the attack sent less than two stores"
            wait_until(lambda: quota_hit(cluster), 30, "a node logging the enrolment account's full quota")
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
