"""Active/standby consoles on the cluster profile (docs/HA.md), with real processes: a 3-node NATS
cluster on loopback, two `alarm-console serve --ha` (a and b), a scripted desk unit.

- kill -9 of the active mid-escalation: the standby takes over and pages the next level at its
  recorded time (not earlier; how much later is measured and printed, never asserted).
- SIGSTOP of the active: the standby takes over; after SIGCONT the old active steps down without
  paging, and becomes a standby.
- a network partition of the active (a network namespace): the standby takes over; after healing
  there is one active and the stores agree.
- loss of the cluster's quorum: no receipt for what is not stored; when the quorum returns the
  alarm is stored once, receipted and paged.

Times are printed (and written to `ha.txt` in the test's directory), never asserted: the machine
is noisy.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.netns import Netns
from stilalarm.broker_config.local import BrokerError, LocalCluster, find_nats_server
from stilalarm.devkit.servicerun import FAST_SITE, ScriptedUnit, ServiceProcess, _exe
from stilalarm.inventory.load import parse_site
from stilalarm.wire.link import Link
from stilalarm.wire.messages import (
    AckCmd,
    IncidentState,
    IncidentStatus,
    Notification,
    NotifyReason,
    encode,
    parse,
    utcnow,
)
from stilalarm.wire.streams import lease_bucket
from stilalarm.wire.topics import Topics
from tests.harness import Capture, wait_until

# Onthaal (balie-1): level 1 the lead chris at once, level 2 the deputy bart after LEVEL2_S, level 3
# much later; no repeats within a test.
LEVEL2_S = 8
HA_SITE = (
    FAST_SITE.replace("repeat_every_s = 5", "repeat_every_s = 600")
    .replace("after_s = 1\n", f"after_s = {LEVEL2_S}\n")
    .replace("after_s = 2\n", "after_s = 120\n")
) + "\n[cluster]\nstandby_silent_after_s = 6\n"
SITE = parse_site(HA_SITE)
T = Topics(SITE.site.id)
TTL = "3"


@dataclass
class Ha:
    cluster: LocalCluster
    a: ServiceProcess
    b: ServiceProcess
    seen: Capture
    unit: ScriptedUnit
    dir: Path

    def pages(self, person: str) -> list[Notification]:
        return self.seen.alarm_notifications(person)

    def note(self, line: str) -> None:
        print(f"\n{line}")
        with (self.dir / "ha.txt").open("a") as f:
            f.write(line + "\n")


def active_line(name: str) -> str:
    return f"ACTIVE console {name} "


@pytest.fixture
def ha(tmp_path: Path) -> Iterator[Ha]:
    try:
        find_nats_server()
    except BrokerError as exc:
        pytest.fail(str(exc))
    site_file = tmp_path / "site.toml"
    site_file.write_text(HA_SITE)
    cluster = LocalCluster(SITE, tmp_path / "cluster")
    a = ServiceProcess(site_file, tmp_path / "a.db", cluster.dir, tmp_path / "a.log")
    b = ServiceProcess(site_file, tmp_path / "b.db", cluster.dir, tmp_path / "b.log")
    seen: Capture | None = None
    unit = None
    try:  # everything started is stopped, however far the start got
        cluster.start()
        # every node, as rendered: the unit and the observer move on when a test kills their node
        seen = Capture(cluster.creds("observer", node=None), (f"{T.base}/#",), persistent=True)
        seen.start()
        a.start(["--ha", "a", "--ha-ttl", TTL])
        wait_until(lambda: active_line("a") in a.log(), 60, f"a active:\n{a.log()}")
        a.wait_ready(30)
        b.start(["--ha", "b", "--ha-ttl", TTL])
        wait_until(lambda: "standby b " in b.log(), 30, f"b standby:\n{b.log()}")
        unit = ScriptedUnit(cluster.creds("unit-balie-1", node=None), "balie-1").start(20)
        wait_until(lambda: seen.on(T.unitstate("balie-1")) != [], 30, "the unit's state at the console")
        yield Ha(cluster, a, b, seen, unit, tmp_path)
    finally:
        if unit is not None:
            unit.stop()
        for p in (a, b):
            if p.proc is not None and p.proc.poll() is None:
                os.killpg(p.proc.pid, signal.SIGCONT)
            p.kill()
        if seen is not None:
            seen.stop()
        cluster.kill()


def received_ids(db: Path) -> set[str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        return {r[0] for r in c.execute("SELECT event_id FROM received")}


def facts(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        return [(r[0], r[1]) for r in c.execute("SELECT kind, data FROM events ORDER BY seq")]


def log_seq(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
        row = c.execute("SELECT value FROM meta WHERE key = 'log_seq'").fetchone()
        return 0 if row is None else int(row[0])


def test_kill_of_the_active_mid_escalation_the_standby_pages_the_next_level_on_time(ha: Ha) -> None:
    ev = ha.unit.press()
    wait_until(lambda: ha.pages("chris") != [], 30, "level 1 (chris) paged by a")
    wait_until(lambda: ha.unit.receipt_for(ev.event_id) is not None, 30, "the receipt")
    receipt = ha.unit.receipt_for(ev.event_id)
    assert receipt is not None and receipt.incident_id is not None
    ha.a.kill()  # mid-escalation: level 2 is due LEVEL2_S after the press
    t_kill = time.monotonic()
    wait_until(lambda: active_line("b") in ha.b.log(), 30, f"b takes over:\n{ha.b.log()}")
    t_active = time.monotonic()
    wait_until(lambda: ha.pages("bart") != [], 30, "level 2 (bart) paged by b")
    t_page = time.monotonic()
    level2 = ha.pages("bart")
    assert len(level2) == 1
    inc = ha.seen.incident_state(receipt.incident_id)
    # on time: not before its recorded due time (the escalation resumed from the log's times)
    assert (level2[0].at - inc.pressed_at).total_seconds() >= LEVEL2_S - 0.01
    # at most one duplicate of what a had paged (a notification not yet marked delivered)
    assert 1 <= len(ha.pages("chris")) <= 2
    assert len({n.notification_id for n in ha.pages("chris")}) == 1
    # one incident, in b's store too
    assert str(ev.event_id) in received_ids(ha.b.db)
    ha.note(
        f"kill -9 of the active console -> standby active: {t_active - t_kill:.2f} s; "
        f"-> level 2 paged: {t_page - t_kill:.2f} s (due {LEVEL2_S} s after the press; "
        f"{(level2[0].at - inc.pressed_at).total_seconds():.2f} s after it)"
    )


def test_kill_when_the_next_level_is_due_pages_it_at_takeover(ha: Ha) -> None:
    """The target figure: the active dies just before level 2 is due; time to the standby's page."""
    ev = ha.unit.press()
    wait_until(lambda: ha.pages("chris") != [], 30, "level 1 (chris) paged by a")
    wait_until(lambda: ha.unit.receipt_for(ev.event_id) is not None, 30, "the receipt")
    time.sleep(LEVEL2_S - 1.0)  # kill a second before level 2 is due
    ha.a.kill()
    t_kill = time.monotonic()
    wait_until(lambda: ha.pages("bart") != [], 30, "level 2 (bart) paged by b")
    elapsed = time.monotonic() - t_kill
    assert len(ha.pages("bart")) == 1
    ha.note(f"kill -9 of the active console 1 s before level 2 was due -> level 2 paged: {elapsed:.2f} s")


def test_sigstop_of_the_active_the_standby_takes_over_and_the_old_one_does_not_page(ha: Ha) -> None:
    ev = ha.unit.press()
    wait_until(lambda: ha.pages("chris") != [], 30, "level 1 (chris) paged by a")
    wait_until(lambda: ha.unit.receipt_for(ev.event_id) is not None, 30, "the receipt")
    assert ha.a.proc is not None
    os.killpg(ha.a.proc.pid, signal.SIGSTOP)  # a hang: a keeps its connections, says nothing
    t_stop = time.monotonic()
    wait_until(lambda: active_line("b") in ha.b.log(), 30, f"b takes over:\n{ha.b.log()}")
    t_active = time.monotonic()
    wait_until(lambda: ha.pages("bart") != [], 30, "level 2 (bart) paged by b")
    receipt = ha.unit.receipt_for(ev.event_id)
    assert receipt is not None and receipt.incident_id is not None
    iid = receipt.incident_id
    # "ik kom" reaches whichever console is active (the consoles share the MQTT session)
    bart = Link(ha.cluster.creds("person-bart", node=0))  # its rendered secret client id
    bart.start()
    assert bart.wait_connected(20)
    cmd = AckCmd(cmd_id=uuid.uuid4(), person_id="bart", issued_at=utcnow(), incident_id=iid)
    bart.publish(T.person_cmd("bart"), encode(cmd), qos=1)
    wait_until(
        lambda: ha.seen.incident_state(iid).status is IncidentStatus.ACKNOWLEDGED, 30, "acknowledged by b"
    )
    b_term = ha.seen.incident_state(iid).term
    assert b_term > 0
    n_states = len(ha.seen.on(T.incident(iid)))
    os.killpg(ha.a.proc.pid, signal.SIGCONT)
    wait_until(lambda: "stepping down" in ha.a.log(), 30, f"a steps down:\n{ha.a.log()}")
    wait_until(lambda: "standby a " in ha.a.log().split("stepping down")[-1], 30, "a is a standby again")
    # a second press after the handover: handled by b alone
    ev2 = ha.unit.press()
    wait_until(lambda: ha.unit.receipt_for(ev2.event_id) is not None, 30, "the second receipt (from b)")
    wait_until(lambda: log_seq(ha.a.db) >= log_seq(ha.b.db) > 0, 30, "a follows b's log")
    assert len(ha.pages("bart")) == 1  # a did not page level 2 after SIGCONT
    assert ha.a.proc.poll() is None  # a is alive, as a standby
    assert active_line("a") not in ha.a.log().split("stepping down")[-1]
    assert facts(ha.a.db) == facts(ha.b.db)  # the stores agree
    # nothing from a's old term after SIGCONT: every state since is b's, and the ack stands
    later = [parse(IncidentState, p) for p in ha.seen.on(T.incident(iid))[n_states:] if p]
    assert all(st.term >= b_term for st in later)
    assert ha.seen.incident_state(iid).status is IncidentStatus.ACKNOWLEDGED
    bart.stop()
    ha.note(f"SIGSTOP of the active console -> standby active: {t_active - t_stop:.2f} s")


def test_a_standby_takes_over_on_the_inventory_as_it_is_now(ha: Ha) -> None:
    """site.toml changes while b waits as a standby (Onthaal's lead is now bart, chris his deputy)
    and the operator reloads both consoles (`alarm-console reload`); then a is killed. b takes
    over on the file as it is now: a press pages bart first, not chris (b read the file at its
    start; before 2026-12-04 it took over on that)."""
    swapped = HA_SITE.replace(
        'leads = ["chris"]\ndeputies = ["bart"]', 'leads = ["bart"]\ndeputies = ["chris"]'
    )
    assert swapped != HA_SITE
    ha.a.site_file.write_text(swapped)
    for p in (ha.a, ha.b):
        done = subprocess.run(
            [*_exe(), "reload", "--site", str(p.site_file), "--db", str(p.db)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr  # a standby's pid file is there too
    wait_until(lambda: "inventory reloaded" in ha.a.log(), 30, f"a reloads:\n{ha.a.log()}")
    wait_until(lambda: "a standby reads" in ha.b.log(), 30, f"b notes the reload:\n{ha.b.log()}")
    ha.a.kill()
    wait_until(lambda: active_line("b") in ha.b.log(), 30, f"b takes over:\n{ha.b.log()}")
    ev = ha.unit.press()
    wait_until(lambda: ha.unit.receipt_for(ev.event_id) is not None, 30, "the receipt from b")
    wait_until(lambda: ha.pages("bart") != [] or ha.pages("chris") != [], 30, "level 1 paged by b")
    assert ha.pages("chris") == []  # level 2 (chris now) is due LEVEL2_S after the press
    assert len(ha.pages("bart")) == 1
    assert "changed since this console started" in ha.b.log()


def test_the_active_tells_facilities_when_its_standby_is_gone_and_when_it_is_back(ha: Ha) -> None:
    """b, the standby, is killed: a hears nothing from it for `standby_silent_after_s` (6 s here)
    and tells facilities, each in their language, that the site has no standby (a failure of a
    would now be a failure of the site); b started again: a tells them it is back. The alarm
    path is not touched: a press meanwhile is receipted and paged as always."""

    def told(person: str, since: int, words: str) -> list[Notification]:
        return [n for n in ha.seen.notifications(person)[since:] if words in n.title]

    gert, fien = len(ha.seen.notifications("gert")), len(ha.seen.notifications("fien"))
    ha.b.kill()
    t_kill = time.monotonic()
    wait_until(lambda: told("gert", gert, "reserveconsole ontbreekt") != [], 30, "facilities told (nl)")
    t_told = time.monotonic()
    wait_until(lambda: told("fien", fien, "standby console missing") != [], 10, "facilities told (en)")
    missing = told("gert", gert, "reserveconsole ontbreekt")[0]
    assert "stil: b (" in missing.body and missing.reason is NotifyReason.FAULT
    ev = ha.unit.press()  # one console left: it still does everything
    wait_until(lambda: ha.unit.receipt_for(ev.event_id) is not None, 30, "the receipt from a")
    wait_until(lambda: ha.pages("chris") != [], 30, "level 1 paged by a")
    gert = len(ha.seen.notifications("gert"))
    ha.b.start(["--ha", "b", "--ha-ttl", TTL])
    wait_until(lambda: told("gert", gert, "Hersteld: reserveconsole") != [], 60, "facilities told b is back")
    assert "b" in told("gert", gert, "Hersteld: reserveconsole")[0].body
    assert told("gert", gert, "reserveconsole ontbreekt") == []
    ha.note(f"standby killed -> facilities told: {t_told - t_kill:.2f} s (bound 6 s, checks every 1 s)")


def test_quorum_loss_nothing_is_receipted_that_is_not_stored(ha: Ha) -> None:
    ha.cluster.kill_node(1)
    ha.cluster.kill_node(2)  # node 1 (index 0) alone: no quorum for any stream or the lease
    ev = ha.unit.press()
    t_press = time.monotonic()
    window = 3 * float(TTL)
    while time.monotonic() - t_press < window:
        assert ha.unit.receipt_for(ev.event_id) is None, "receipted without quorum"
        time.sleep(0.1)
    ha.cluster.start_node(1)
    ha.cluster.start_node(2)
    t_back = time.monotonic()
    wait_until(
        lambda: ha.unit.receipt_for(ev.event_id) is not None, 120, "the receipt after the quorum returned"
    )
    elapsed = time.monotonic() - t_back
    receipt = ha.unit.receipt_for(ev.event_id)
    assert receipt is not None and receipt.incident_id is not None
    wait_until(lambda: ha.pages("chris") != [], 30, "the lead's page")
    # stored: in the store of whichever console is active, once
    active = ha.a if str(ev.event_id) in received_ids(ha.a.db) else ha.b
    assert str(ev.event_id) in received_ids(active.db)
    incidents = {n.incident_id for n in ha.pages("chris")}
    assert incidents == {receipt.incident_id}
    ha.note(f"quorum lost, alarm pressed; quorum back -> receipt: {elapsed:.2f} s")


def test_partition_of_the_active_the_standby_takes_over_and_after_healing_one_active_and_stores_agree(
    tmp_path: Path, netns: Netns
) -> None:
    """Console a runs in a network namespace, reaching the nodes over a veth pair; the pair is cut
    mid-escalation. a cannot renew its lease and stops by its own clock; b takes over and pages
    level 2. When the link returns, a follows b's log as a standby: one active, the stores agree."""
    site_file = tmp_path / "site.toml"
    site_file.write_text(HA_SITE)
    cluster = LocalCluster(SITE, tmp_path / "cluster")
    for node in cluster.nodes:  # the client ports also on the veth side (test only: plain)
        conf = cluster.dir / "nodes" / node.name / "nats.conf"
        text = conf.read_text()
        for port in (node.mqtt_port, node.nats_port):
            text = text.replace(f'"127.0.0.1:{port}"', f'"0.0.0.0:{port}"')
        conf.write_text(text)
    a_dir = tmp_path / "a-broker"  # a's client configs: the nodes' addresses as seen from the namespace
    a_dir.mkdir()
    for f in cluster.dir.glob("*.json"):
        (a_dir / f.name).write_text(f.read_text().replace("127.0.0.1", netns.host_addr))
        (a_dir / f.name).chmod(0o600)
    a = ServiceProcess(site_file, tmp_path / "a.db", a_dir, tmp_path / "a.log", prefix=netns.prefix())
    b = ServiceProcess(site_file, tmp_path / "b.db", cluster.dir, tmp_path / "b.log")
    seen = Capture(cluster.creds("observer", node=0), (f"{T.base}/#",))
    unit = None
    try:
        cluster.start()
        seen.start()
        a.start(["--ha", "a", "--ha-ttl", TTL])
        wait_until(lambda: active_line("a") in a.log(), 60, f"a active:\n{a.log()}")
        a.wait_ready(30)
        b.start(["--ha", "b", "--ha-ttl", TTL])
        wait_until(lambda: "standby b " in b.log(), 30, f"b standby:\n{b.log()}")
        unit = ScriptedUnit(cluster.creds("unit-balie-1", node=1), "balie-1").start(20)
        ev = unit.press()
        wait_until(lambda: seen.alarm_notifications("chris") != [], 30, "level 1 (chris) paged by a")
        wait_until(lambda: unit.receipt_for(ev.event_id) is not None, 30, "the receipt")
        netns.cut()
        t_cut = time.monotonic()
        wait_until(lambda: active_line("b") in b.log(), 30, f"b takes over:\n{b.log()}")
        t_active = time.monotonic()
        wait_until(lambda: "PAUSED" in a.log(), 30, f"a pauses:\n{a.log()}")
        wait_until(lambda: seen.alarm_notifications("bart") != [], 30, "level 2 (bart) paged by b")
        netns.restore()
        wait_until(lambda: "stepping down" in a.log(), 60, f"a steps down once it hears of b:\n{a.log()}")
        ev2 = unit.press()
        wait_until(lambda: unit.receipt_for(ev2.event_id) is not None, 30, "a second receipt (from b)")
        wait_until(lambda: log_seq(a.db) >= log_seq(b.db) > 0, 60, f"a follows b's log:\n{a.log()}")
        assert a.proc is not None and a.proc.poll() is None  # a is alive, as a standby
        assert active_line("a") not in a.log().split("stepping down")[-1]  # one active: b
        assert len(seen.alarm_notifications("bart")) == 1
        assert facts(a.db) == facts(b.db)  # the stores agree
        assert received_ids(a.db) == received_ids(b.db) >= {str(ev.event_id), str(ev2.event_id)}
        line = f"network partition of the active console -> standby active: {t_active - t_cut:.2f} s"
        print(f"\n{line}")
        (tmp_path / "ha.txt").write_text(line + "\n")
    finally:
        if unit is not None:
            unit.stop()
        a.kill()
        b.kill()
        seen.stop()
        cluster.kill()


def test_a_clean_stop_hands_the_lease_over(ha: Ha) -> None:
    """SIGTERM (systemctl stop/restart): a stops, writes the lease free, b takes it without
    waiting for the ttl; an alarm pressed meanwhile is receipted and paged once."""
    ev = ha.unit.press()
    wait_until(lambda: ha.unit.receipt_for(ev.event_id) is not None, 30, "the receipt from a")
    t0 = time.monotonic()
    assert ha.a.terminate(20) == 0
    wait_until(lambda: active_line("b") in ha.b.log(), 30, f"b takes over:\n{ha.b.log()}")
    elapsed = time.monotonic() - t0
    assert "released" in ha.a.log()
    ev2 = ha.unit.press(button="voet")
    wait_until(lambda: ha.unit.receipt_for(ev2.event_id) is not None, 30, "the receipt from b")
    assert str(ev2.event_id) in received_ids(ha.b.db)
    ha.note(f"SIGTERM of the active console -> standby active: {elapsed:.2f} s (ttl {TTL} s)")


def stream_leader(cluster: LocalCluster, stream: str) -> int:
    """Which node (index) leads a JetStream stream (the consoles' log login may ask)."""
    import asyncio

    import nats

    creds = cluster.log_creds()

    async def ask() -> str:
        nc = await nats.connect(servers=list(creds.servers), user=creds.username, password=creds.password)
        try:
            info = await nc.jetstream(timeout=5).stream_info(stream)
            assert info.cluster is not None and info.cluster.leader is not None
            return str(info.cluster.leader)
        finally:
            await nc.close()

    name = asyncio.run(ask())
    return next(i for i, n in enumerate(cluster.nodes) if n.name == name)


def test_loss_of_the_node_leading_the_lease_pauses_the_active_without_a_switch(ha: Ha) -> None:
    """The lease's stream is leaderless for 4-9 s after its leader's node dies (nats-server's Raft):
    nobody can write the lease. The active pauses and resumes on its first renewal after the
    election; the standby, whose reads got no answer meanwhile, counts its ttl again from then, so
    the consoles do not switch. An alarm pressed during it is receipted and paged once."""
    i = stream_leader(ha.cluster, f"KV_{lease_bucket(SITE.site.id)}")
    ha.cluster.kill_node(i)
    t_kill = time.monotonic()
    ev = ha.unit.press()
    wait_until(lambda: ha.unit.receipt_for(ev.event_id) is not None, 60, "the receipt")
    elapsed = time.monotonic() - t_kill
    wait_until(lambda: ha.pages("chris") != [], 30, "the lead's page")
    time.sleep(2 * float(TTL))  # a late switch would show in the logs now
    assert active_line("b") not in ha.b.log(), ha.b.log()
    assert "stepping down" not in ha.a.log(), ha.a.log()
    paused = "PAUSED" in ha.a.log()
    assert len({n.incident_id for n in ha.pages("chris")}) == 1
    ha.note(
        f"kill -9 of the node leading the lease's stream -> receipt {elapsed:.2f} s; "
        f"active {'paused and resumed' if paused else 'renewed in time'}; no switch"
    )
