"""Scenario `ha` (issue 18, docs/HA.md): the cluster profile (3-node NATS 2.9 JetStream with its
MQTT listener, `LocalCluster` on loopback) and active/standby consoles (`serve --ha`).

Four parts, each with its own broker:

- **profiles**: the latency scenario's press -> first notification (`sc_site.press` /
  `sc_site.collect`, alarm-sim, the real console) on a mosquitto `LocalBroker` and on a
  `LocalCluster` with two consoles (`--ha a` active, `--ha b` standby), in the same run; quiet only.
- **console kill**: two `--ha` consoles; per run a `ScriptedUnit` presses (a new incident whose
  level 2 is due LEVEL2_S after the press), the active is `kill -9`ed one second before level 2 is
  due; measured: kill -> the standby's level-2 page. The killed console comes back as a standby,
  so the next run kills the other one. Duplicate pages (the same notification id twice) and
  missed pages (level 1 or 2 of a run's incident never seen) are counted over all runs.
- **node kill**: per run a `ScriptedUnit` on node 2 presses and node 2 is SIGKILLed at once;
  measured: kill -> the receipt at the unit, which fails over by itself to the other node (its
  address list, wire/link.py). The node is started again between runs.
- **session leader kill**: per run the leader of the `$MQTT_sess` stream (even runs; odd runs
  another node) is SIGKILLed and at once two fresh paho clients connect to a surviving node: a
  clean session with QoS0, and a persistent session with QoS1 (the unit's way); a plain paho
  client with the console login on the third node echoes a QoS0 receipt. Measured: kill -> CONNACK
  and kill -> receipt, for each.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.ctx import Ctx
from bench.report import Failure, Row
from bench.sc_site import Presses, collect, press
from bench.stats import Stats
from bench.system import Capture, CredsSource, sample
from stilalarm.broker_config.local import LocalBroker, LocalCluster, find_nats_server
from stilalarm.console.tui.bus import QOS as LEADS_QOS
from stilalarm.devkit.localsystem import SimProcess, script
from stilalarm.devkit.servicerun import FAST_SITE, ScriptedUnit, ServiceProcess
from stilalarm.devkit.sitegen import many_units_toml, write_many_units
from stilalarm.inventory import load_site
from stilalarm.wire.identity import client_id as cid_for
from stilalarm.wire.link import SUB_RETRY_MIN_S
from stilalarm.wire.messages import UnitEvent
from stilalarm.wire.topics import PersonChannel, Topics, UnitChannel

SC = "ha"
PAGE_REASONS = ("alarm", "escalation", "repeat")  # an alarm's pages: its levels and repeats
LEVEL2_S = 8.0  # the failover site's level 2 (the deputy), seconds after the press
TTL = "3"  # --ha-ttl, as in tests/e2e/test_console_failover.py
LEAD, DEPUTY = "chris", "bart"  # team onthaal: the room balie-1 of FAST_SITE
# FAST_SITE's onthaal with level 2 after LEVEL2_S and nothing else due within a bench run (no
# repeats, reminders or level 3), so every page of a run belongs to level 1 or 2 of its incident
HA_SITE = (
    FAST_SITE.replace("repeat_every_s = 5", "repeat_every_s = 3600")
    .replace("remind_unresolved_after_s = 60", "remind_unresolved_after_s = 3600")
    .replace("after_s = 1\n", f"after_s = {LEVEL2_S:.0f}\n")
    .replace("after_s = 2\n", "after_s = 3600\n")
)


def run_ha(ctx: Ctx) -> None:
    """The four parts; a part that crashes is reported and the others still run."""
    find_nats_server()  # a missing nats-server fails the scenario with how to install it
    for part, fn in (
        ("profiles", _profiles),
        ("console kill", _console_kill),
        ("node kill", _node_kill),
        ("session leader kill", _sess_leader_kill),
    ):
        try:
            fn(ctx)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            ctx.res.failures.append(Failure(f"{SC} {part}", error))


# -- press -> first notification on both profiles ---------------------------------------------------


def _press_latency(
    ctx: Ctx,
    d: Path,
    site_file: Path,
    ids: list[str],
    broker: CredsSource,
    broker_dir: Path,
    start_consoles: Callable[[], None],
    broker_pids: Callable[[], list[int]],
) -> tuple[tuple[float, float], Presses]:
    """The latency scenario's measurement on one broker: capture, console(s), alarm-sim, presses.
    Returns the seconds the broker took to settle after the units connected, and the presses."""
    site = load_site(site_file)
    t = Topics(site.site.id)
    min_hold = site.unit(ids[0]).buttons[0].min_hold_ms
    cap = Capture().start(
        broker,
        [
            t.all_units(UnitChannel.EVENT),
            t.all_units(UnitChannel.RECEIPT),
            t.all_people(PersonChannel.NOTIFY),
            t.console_status(),
        ],
    )
    # the notifications as a lead's console (the TUI) receives them: a clean session at its QoS
    leads = Capture().start(
        broker, [t.all_people(PersonChannel.NOTIFY)], cid_for("observer", "bench-leads"), LEADS_QOS
    )
    sim: SimProcess | None = None
    try:
        start_consoles()
        cap.wait(lambda m: m.topic == t.console_status() and b'"online"' in m.payload, 120, "console online")
        sim = SimProcess(
            [
                script("alarm-sim"),
                *("--site", str(site_file), "--broker-dir", str(broker_dir), "--units", ",".join(ids)),
                *("--state-dir", str(d / "sim"), "--log-level", "WARNING"),
            ],
            d / "sim.log",
        )
        sim.wait(lambda ln: ln.get("event") == "ready", 300, "alarm-sim ready")
        time.sleep(ctx.n(5, 3))  # births and first heartbeats settle
        settled = settle(broker_pids())
        m, lm = cap.mark(), leads.mark()
        pressed = press(sim, ids, 1 / ctx.n(20, 10))
        return settled, collect(t, cap, sim, pressed, min_hold, m, ctx.n(60, 30), (leads, lm))
    finally:
        if sim is not None:
            sim.stop()
        cap.stop()
        leads.stop()


def settle(
    pids: list[int], quiet_pct: float = 15.0, window_s: float = 2.0, max_s: float = 60.0
) -> tuple[float, float]:
    """Wait until the broker processes together use under `quiet_pct` % of a core over a window
    (after the units' connect storm: NATS creates a replicated consumer per subscription); returns
    the seconds waited (at most `max_s`) and the last window's CPU (% of a core)."""
    t0 = time.monotonic()
    cpu = float("nan")
    while time.monotonic() - t0 < max_s:
        use = sample({str(p): p for p in pids}, window_s)
        cpu = sum(u.cpu_pct for u in use.values())
        if cpu < quiet_pct:
            break
    return time.monotonic() - t0, cpu


def _profiles(ctx: Ctx) -> None:
    res = ctx.res
    n = ctx.n(200, 30)
    d = ctx.dir("ha-profiles")
    site_file = d / "site.toml"
    ids = write_many_units(ctx.site_path, n, site_file)
    site = load_site(site_file)

    mq = d / "mosquitto"
    broker = LocalBroker(site, mq / "broker")
    console = ServiceProcess(site_file, mq / "console.db", broker.dir, mq / "console.log")
    broker.start()
    try:
        settle_m, pm = _press_latency(
            ctx, mq, site_file, ids, broker, broker.dir, lambda: console.start(), lambda: [broker.pid or 0]
        )
    finally:
        console.terminate()
        broker.stop()

    cl = d / "cluster"
    cluster = LocalCluster(site, cl / "nodes")
    a = ServiceProcess(site_file, cl / "a.db", cluster.dir, cl / "a.log")
    b = ServiceProcess(site_file, cl / "b.db", cluster.dir, cl / "b.log")

    def start_pair() -> None:
        a.start(["--ha", "a", "--ha-ttl", TTL])
        _wait_log(a, "ACTIVE console a ", 120)
        b.start(["--ha", "b", "--ha-ttl", TTL])
        _wait_log(b, "standby b ", 60)

    cluster.start()
    try:
        settle_c, pc = _press_latency(
            ctx,
            cl,
            site_file,
            ids,
            cluster,
            cluster.dir,
            start_pair,
            lambda: [p for i in range(len(cluster.nodes)) if (p := cluster.pid(i))],
        )
    finally:
        for p in (a, b):
            p.kill()
        cluster.kill()

    refused_m, refused_c = (_refused(mq / "sim.log"), _refused(cl / "sim.log"))
    sm, sc = Stats.of(pm.press_notify), Stats.of(pc.press_notify)
    rm, rc = Stats.of(pm.receipt), Stats.of(pc.receipt)
    ratio = sc.p99 / sm.p99 if sm.p99 else float("nan")
    res.add(Row(SC, f"mosquitto profile: press → first notification p99, quiet (n={sm.n})", sm.p99, "ms"))
    res.add(
        Row(
            SC,
            "cluster profile (3 NATS nodes, consoles a+b --ha): press → first notification p99, "
            f"quiet (n={sc.n})",
            sc.p99,
            "ms",
            sm.p99,
            "mosquitto profile, same presses",
            "≤ 2× mosquitto",
            ratio <= 2,
        )
    )
    qm, qc = Stats.of(pm.press_notify_qos1), Stats.of(pc.press_notify_qos1)
    res.add(
        Row(
            SC,
            "cluster profile: press → first notification p99 on an observer's QoS1 subscription "
            "(not the leads' way: their consoles subscribe at QoS 0), quiet",
            qc.p99,
            "ms",
            qm.p99,
            "mosquitto profile",
        )
    )
    res.add(
        Row(
            SC,
            "cluster profile: press → receipt at the unit p99, quiet",
            rc.p99,
            "ms",
            rm.p99,
            "mosquitto profile",
        )
    )
    res.add(
        Row(
            SC,
            f"cluster profile: broker CPU before the presses ({n} units connected, 3 nodes together)",
            settle_c[1],
            "% core",
            settle_m[1],
            "mosquitto, same units",
        )
    )
    em, ec = Stats.of(pm.event_receipt), Stats.of(pc.event_receipt)
    res.add(
        Row(
            SC,
            "cluster profile: the unit's event → its receipt, both as the observer got them p99 "
            "(the console's part and the way back; the press's way in left out), quiet",
            ec.p99,
            "ms",
            em.p99,
            "mosquitto profile",
        )
    )
    res.add(
        Row(
            SC,
            f"cluster profile: alarm-sim units ({n}, connecting at once) whose QoS1 subscriptions "
            "the broker refused",
            float(refused_c),
            "units",
            float(refused_m),
            "mosquitto profile",
        )
    )
    res.note(
        SC,
        f"Profiles, quiet only (no busy variant): {n} presses on {n} alarm-sim units "
        f"(one press each, {ctx.n(20, 10)}/s), measured as the latency scenario does, once the "
        f"broker used < 15 % of a core over 2 s after the units connected, or after 60 s "
        f"(mosquitto after {settle_m[0]:.0f} s, then {settle_m[1]:.1f} % of a core; the cluster's "
        f"three nodes together after {settle_c[0]:.0f} s, then {settle_c[1]:.1f} %). A notification "
        f"is taken as a lead's console receives it: a clean session subscribed at QoS {LEADS_QOS} "
        f"(console/tui/bus.py); the observer's QoS1 copy is the row beside it (mosquitto "
        f"{qm.fmt()}, cluster {qc.fmt()}). mosquitto: "
        f"press→notification {sm.fmt()}, press→receipt {rm.fmt()}, lost {pm.lost}; units whose "
        f"subscriptions the broker refused at connect {refused_m}. Cluster (console a active on node "
        f"1's MQTT, every commit appended to the replicated log first; b standby, following the log): "
        f"press→notification {sc.fmt()}, press→receipt {rc.fmt()}, lost {pc.lost} (no receipt within "
        f"{ctx.n(60, 30)} s); units whose subscriptions the broker refused at connect (SUBACK "
        f"'Unspecified error' while {n} units connect at once: NATS creates a replicated JetStream "
        f"consumer per QoS1 subscription) {refused_c}: the firmware (and wire/link.py) ask again for "
        f"them after {SUB_RETRY_MIN_S:.0f} s, doubling (what is published while one is refused is not "
        f"queued for it: such a unit's first receipt waits for its outbox's resend).",
    )


def _refused(sim_log: Path) -> int:
    """Units whose SUBSCRIBE the broker refused (alarm-sim logs each)."""
    if not sim_log.exists():
        return 0
    return len(
        set(re.findall(r"broker refused subscriptions of (\S+):", sim_log.read_text(errors="replace")))
    )


# -- console kill -----------------------------------------------------------------------------------


def _wait_log(p: ServiceProcess, text: str, timeout: float) -> float:
    """Until `text` is in the console's log (polled every 20 ms); returns when it was seen."""
    deadline = time.monotonic() + timeout
    while text not in p.log():
        if p.proc is not None and p.proc.poll() is not None:
            raise RuntimeError(f"alarm-console exited with {p.proc.returncode} waiting for {text!r}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {text!r} in {p.log_path} within {timeout:.0f} s")
        time.sleep(0.02)
    return time.monotonic()


@dataclass
class Page:
    """One alarm notification seen by the capture."""

    at: float  # monotonic
    person: str
    notification_id: str
    incident_id: str
    level: int


@dataclass
class Pages:
    """The alarm pages a capture saw, by incident."""

    cap: Capture
    t: Topics
    t0_wall: float = field(default_factory=time.time)
    t0_mono: float = field(default_factory=time.monotonic)

    def all(self) -> list[Page]:
        out = []
        for m in self.cap.since(0):
            who = self.t.parse_person(m.topic)
            if who is None or who[1] is not PersonChannel.NOTIFY or not m.payload:
                continue
            o = m.json()
            if o.get("reason") not in PAGE_REASONS or not o.get("incident_id"):
                continue
            at = self.t0_mono + (m.at - self.t0_wall)  # the capture stamps wall time
            nid, inc = str(o["notification_id"]), str(o["incident_id"])
            out.append(Page(at, who[0], nid, inc, int(o.get("level", 0))))
        return out

    def wait(self, incident: str, person: str, timeout: float, what: str) -> Page:
        """The first page of `incident` to `person`."""
        deadline = time.monotonic() + timeout
        while True:
            hit = next((p for p in self.all() if p.incident_id == incident and p.person == person), None)
            if hit is not None:
                return hit
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(0.02)


def duplicates_per_failover(pages: list[Page], kills: list[float]) -> dict[tuple[int, str], int]:
    """(failover index, incident) -> pages that repeated a notification id already seen, each
    counted against the last kill before it (a repeat before the first kill: index -1)."""
    seen: set[str] = set()
    out: dict[tuple[int, str], int] = {}
    for p in sorted(pages, key=lambda p: p.at):
        if p.notification_id in seen:
            k = sum(1 for t in kills if t <= p.at) - 1
            out[(k, p.incident_id)] = out.get((k, p.incident_id), 0) + 1
        seen.add(p.notification_id)
    return out


@contextmanager
def _ha_cluster(ctx: Ctx, name: str, n_units: int) -> Iterator[tuple[LocalCluster, Path, Topics]]:
    d = ctx.dir(name)
    site_file = d / "site.toml"
    site_file.write_text(many_units_toml(HA_SITE, n_units))
    site = load_site(site_file)
    cluster = LocalCluster(site, d / "cluster")
    cluster.start()
    try:
        yield cluster, site_file, Topics(site.site.id)
    finally:
        cluster.kill()


def _unit(
    cluster: LocalCluster, cap: Capture, t: Topics, uid: str, node: int, then: int | None = None
) -> ScriptedUnit:
    """A scripted desk unit on `node` (and node `then` next in its address list: it fails over by
    itself), connected and subscribed, once the console has published its (retained) unit state."""
    creds = cluster.creds(f"unit-{uid}", node=node)
    if then is not None:
        creds = creds.at(cluster.endpoint(node), cluster.endpoint(then))
    unit = ScriptedUnit(creds, uid).start(30)
    cap.wait(lambda x: x.topic == t.unitstate(uid), 60, f"unit {uid} at the console")
    return unit


def _console_kill(ctx: Ctx) -> None:
    res = ctx.res
    runs = ctx.n(5, 2)
    with _ha_cluster(ctx, "ha-console-kill", runs) as (cluster, site_file, t):
        d = site_file.parent
        consoles = {
            x: ServiceProcess(site_file, d / f"{x}.db", cluster.dir, d / f"{x}.log") for x in ("a", "b")
        }
        cap = Capture().start(cluster, [f"{t.base}/#"])
        pages = Pages(cap, t)
        times: list[float] = []
        takeover: list[float] = []
        incidents: list[str] = []
        kills: list[float] = []
        try:
            consoles["a"].start(["--ha", "a", "--ha-ttl", TTL])
            _wait_log(consoles["a"], "ACTIVE console a ", 120)
            consoles["b"].start(["--ha", "b", "--ha-ttl", TTL])
            _wait_log(consoles["b"], "standby b ", 60)
            active, standby = "a", "b"
            for i in range(runs):
                uid = f"sim-{i:04d}"
                unit = _unit(cluster, cap, t, uid, node=1)
                try:
                    ev = unit.press()
                    t_press = time.monotonic()
                    _receipted(unit, ev, 60)
                    r = unit.receipt_for(ev.event_id)
                    assert r is not None and r.incident_id is not None
                    inc = str(r.incident_id)
                    incidents.append(inc)
                    pages.wait(inc, LEAD, 60, "level 1")
                    time.sleep(max(0.0, t_press + LEVEL2_S - 1.0 - time.monotonic()))
                    consoles[active].kill()  # kill -9, one second before level 2 is due
                    t_kill = time.monotonic()
                    kills.append(t_kill)
                    t_active = _wait_log(consoles[standby], f"ACTIVE console {standby} ", 60)
                    page = pages.wait(inc, DEPUTY, 60, "level 2 by the standby")
                    times.append(page.at - t_kill)
                    takeover.append(t_active - t_kill)
                finally:
                    unit.stop()
                consoles[active].start(["--ha", active, "--ha-ttl", TTL])  # back, as a standby
                _wait_log(consoles[active], f"standby {active} ", 60)
                active, standby = standby, active
            time.sleep(3)  # late duplicates
            seen = pages.all()
        finally:
            cap.stop()
            for p in consoles.values():
                p.kill()
    per_failover = duplicates_per_failover(seen, kills)
    dups = sum(per_failover.values())
    worst = max(per_failover.values(), default=0)
    missed = sum(
        1
        for inc in incidents
        for who in (LEAD, DEPUTY)
        if not any(p.incident_id == inc and p.person == who for p in seen)
    )
    open_at_kills = sum(range(1, len(kills) + 1))  # every run's incident stays open
    s = sorted(times)
    res.add(
        Row(
            SC,
            f"active console kill -9 → next level paged by the standby, median of {len(s)} "
            f"(min {s[0]:.2f}, max {s[-1]:.2f} s)",
            statistics.median(s),
            "s",
            float(TTL),
            "--ha-ttl (the lease the standby waits out)",
            "≤ 5 s after the kill",
            s[-1] <= 5,
        )
    )
    res.add(
        Row(
            SC,
            f"duplicate pages over {len(kills)} console failovers "
            f"({open_at_kills} open incidents at the kills)",
            float(dups),
            "pages",
            target="≤ 1 per open incident per failover",
            met=worst <= 1,
            note=f"worst {worst} per incident per failover",
        )
    )
    res.add(
        Row(
            SC,
            "pages missed over those failovers (level 1 and 2 of each run)",
            float(missed),
            "pages",
            target="none",
            met=missed == 0,
        )
    )
    res.note(
        SC,
        f"Console kill: {runs} runs, two `serve --ha` consoles (ttl {TTL} s) on one 3-node cluster, a "
        f"scripted unit presses a new incident each run, the active is SIGKILLed 1 s before level 2 "
        f"(due {LEVEL2_S:.0f} s after the press) and comes back as a standby (the next run kills the "
        f"other). Kill → standby's level-2 page: {', '.join(f'{x:.2f}' for x in times)} s; kill → "
        f"'ACTIVE' in the standby's log: {', '.join(f'{x:.2f}' for x in takeover)} s. Duplicates "
        f"(a notification id paged twice): {dups} (worst {worst} per incident per failover); missed "
        f"{missed} of {2 * len(incidents)} expected pages.",
    )


def _receipted(unit: ScriptedUnit, ev: UnitEvent, timeout: float) -> None:
    """Until the unit has the console's receipt for `ev` (polled every 10 ms)."""
    deadline = time.monotonic() + timeout
    while unit.receipt_for(ev.event_id) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no receipt for {unit.unit_id}'s alarm within {timeout:.0f} s")
        time.sleep(0.01)


# -- broker node kill -------------------------------------------------------------------------------


def stream_leader(logs: list[str], stream: str) -> int | None:
    """Which node (index into `logs`, the nodes' log texts) last logged becoming leader of the
    JetStream stream `stream` (e.g. `$MQTT_msgs`); None if none did."""
    leader_re = re.compile(
        r"(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d+) \[INF\] "
        rf"JetStream cluster new stream leader for '[^']*{re.escape(stream)}'"
    )
    latest: tuple[str, int] | None = None
    for i, text in enumerate(logs):
        for m in leader_re.finditer(text):
            if latest is None or m.group(1) >= latest[0]:
                latest = (m.group(1), i)
    return latest[1] if latest else None


def _stream_leader(cluster: LocalCluster, stream: str) -> int | None:
    return stream_leader(_node_logs(cluster), stream)


def pick_victim(run: int, leader: int | None, nodes: tuple[int, ...] = (1, 2)) -> int:
    """Which of `nodes` to kill (by default 1 or 2; node 0 carries the consoles' MQTT and the
    capture): even runs the stream's `leader` when it is one of them (the worst case), odd runs
    another (the first of `nodes` that is not the leader), so that both cases are measured; with
    no leader among them, the first two of `nodes` alternately."""
    if leader in nodes:
        return leader if run % 2 == 0 else next(n for n in nodes if n != leader)
    return nodes[run % 2]


ELECTED_RE = re.compile(
    r"(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d+) \[INF\] "
    r"JetStream cluster new (stream|consumer) leader for '[^'>]*> ([^'>]+?)(?: > [^']*)?'"
)


def elections(logs: list[str], t0: float, t1: float) -> str:
    """The Raft groups that elected a new leader between wall times t0 and t1 (the nodes' log
    texts; nats-server logs local time): streams by name with the seconds from t0 to their first
    election, consumers counted per stream."""
    streams: dict[str, float] = {}
    consumers: dict[str, int] = {}
    for text in logs:
        for m in ELECTED_RE.finditer(text):
            at = dt.datetime.strptime(m.group(1), "%Y/%m/%d %H:%M:%S.%f").timestamp()
            if not t0 <= at <= t1:
                continue
            if m.group(2) == "stream":
                streams.setdefault(m.group(3).strip(), at - t0)
            else:
                consumers[m.group(3).strip()] = consumers.get(m.group(3).strip(), 0) + 1
    parts = [f"{k} +{v:.1f} s" for k, v in sorted(streams.items())]
    parts += [f"{v} consumer(s) of {k}" for k, v in sorted(consumers.items())]
    return ", ".join(parts) or "none"


def _node_logs(cluster: LocalCluster) -> list[str]:
    return [p.read_text(errors="replace") if (p := cluster.log_path(i)).exists() else "" for i in range(3)]


def _node_kill(ctx: Ctx) -> None:
    res = ctx.res
    runs = ctx.n(6, 2)
    with _ha_cluster(ctx, "ha-node-kill", runs) as (cluster, site_file, t):
        d = site_file.parent
        consoles = [ServiceProcess(site_file, d / f"{x}.db", cluster.dir, d / f"{x}.log") for x in ("a", "b")]
        cap = Capture().start(cluster, [f"{t.base}/#"])
        times: list[float] = []
        led: list[bool | None] = []
        elected: list[str] = []
        try:
            consoles[0].start(["--ha", "a", "--ha-ttl", TTL])
            _wait_log(consoles[0], "ACTIVE console a ", 120)
            consoles[1].start(["--ha", "b", "--ha-ttl", TTL])
            _wait_log(consoles[1], "standby b ", 60)
            for i in range(runs):
                leader = _stream_leader(cluster, "$MQTT_msgs")
                k = pick_victim(i, leader)
                unit = _unit(cluster, cap, t, f"sim-{i:04d}", node=k, then=3 - k)
                try:
                    ev = unit.press()
                    cluster.kill_node(k)  # the unit's node, at once: the alarm is in flight
                    t_kill, w_kill = time.monotonic(), time.time()
                    _receipted(unit, ev, 120)
                    times.append(time.monotonic() - t_kill)
                    led.append(None if leader is None else leader == k)
                    elected.append(elections(_node_logs(cluster), w_kill, time.time()))
                finally:
                    unit.stop()
                cluster.start_node(k)
                cluster.wait_ready(60, node=k)
                time.sleep(2)  # the node's streams catch up
        finally:
            cap.stop()
            for p in consoles:
                p.kill()
    s = sorted(times)
    res.add(
        Row(
            SC,
            f"broker node kill -9 → in-flight alarm receipted, median of {len(s)} "
            f"(min {s[0]:.2f}, max {s[-1]:.2f} s; the unit fails over by its address list)",
            statistics.median(s),
            "s",
            target="≤ 3 s",
            met=s[-1] <= 3,
        )
    )
    for who, flag in (("did not lead", False), ("led", True)):
        part = sorted(x for x, w in zip(times, led, strict=True) if w is flag)
        if part:
            res.add(
                Row(
                    SC,
                    f"… when the killed node {who} `$MQTT_msgs`, median of {len(part)} "
                    f"(min {part[0]:.2f}, max {part[-1]:.2f} s)",
                    statistics.median(part),
                    "s",
                    target="≤ 3 s",
                    met=part[-1] <= 3,
                )
            )
    marks = "; ".join(
        f"{x:.2f} s" + {True: " (led)", False: "", None: " (leader unknown)"}[w] + f" [new leaders: {e}]"
        for x, w, e in zip(times, led, elected, strict=True)
    )
    res.note(
        SC,
        f"Node kill: {runs} runs on one 3-node cluster, consoles a (active) and b (standby), a's MQTT "
        f"on node 1: a scripted unit on node 2 or 3 presses, its node is SIGKILLed at once and the unit "
        f"fails over to the other of the two by its address list (wire/link.py); the node is started again "
        f"between runs. Even runs kill the leader of the `$MQTT_msgs` stream when it is node 2 or 3 "
        f"(from the nodes' logs), odd runs the other. Kill → receipt: {marks} ('led': the killed node "
        f"led `$MQTT_msgs`; new leaders: the Raft groups the survivors' logs show elected between the "
        f"kill and the receipt). A group whose leader was on the killed node is unavailable until its "
        f"election: nats-server 2.9 followers wait 4-9 s (constants, no setting) before they campaign "
        f"(docs/HA.md); `$MQTT_msgs` stores every QoS1 PUBLISH, `$MQTT_sess` every session, and each "
        f"QoS1 subscription is a consumer with its own group.",
    )


# -- `$MQTT_sess` leader kill: does a clean QoS0 session avoid JetStream? ---------------------------

SESS, KINDS, WAIT_S = "$MQTT_sess", ("clean QoS0", "persistent QoS1"), 60.0  # WAIT_S: per client


def _paho(cluster: LocalCluster, user: str, node: int, clean: bool) -> mqtt.Client:
    cr = cluster.creds(user, node=node)
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cr.session_client_id(), clean_session=clean)
    c.username_pw_set(cr.username, cr.password)
    return c


def _echo(cluster: LocalCluster, t: Topics, node: int) -> mqtt.Client:
    """The console side, broker only: the console login on `node` echoes unit events as receipts."""
    c, ready = _paho(cluster, "console", node, clean=True), threading.Event()

    def on_message(c: mqtt.Client, _u: Any, m: mqtt.MQTTMessage) -> None:
        c.publish(t.unit_receipt(m.topic.split("/")[-2]), m.payload, 0)

    c.on_connect = lambda c, _u, _f, _r, _p: c.subscribe(t.all_units(UnitChannel.EVENT), 0)
    c.on_subscribe, c.on_message = lambda *_: ready.set(), on_message
    c.connect(*cluster.endpoint(node))
    c.loop_start()
    if not ready.wait(30):
        raise TimeoutError(f"the echo console on node {node} did not subscribe within 30 s")
    return c


def _after_kill(cluster: LocalCluster, t: Topics, node: int, t0: float, run: int, qos: int) -> list[float]:
    """Unit sim-{2 run + qos} fresh on `node` (QoS0 clean, QoS1 persistent session): s from `t0` to
    CONNACK, to receipt (nan: none in WAIT_S); CONNECTs (paho: 1, 2, 4 s apart); SUBSCRIBEs refused."""
    uid, marks, got = f"sim-{2 * run + qos:04d}", {"connects": 0.0, "refused": 0.0}, threading.Event()
    c = _paho(cluster, f"unit-{uid}", node, clean=qos == 0)

    def on_connect(c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            marks.setdefault("connack", time.monotonic() - t0)
            c.subscribe(t.unit_receipt(uid), qos)

    def on_subscribe(c: mqtt.Client, _u: Any, _m: int, reasons: Any, _p: Any) -> None:
        if reasons[0].is_failure:  # NATS could not create the subscription's JetStream consumer
            marks["refused"] += 1
            threading.Timer(SUB_RETRY_MIN_S, c.subscribe, (t.unit_receipt(uid), qos)).start()
        else:
            c.publish(t.unit_event(uid), b"{}", qos)

    def on_message(_c: mqtt.Client, _u: Any, _m: mqtt.MQTTMessage) -> None:
        marks.setdefault("receipt", time.monotonic() - t0)
        got.set()

    c.on_pre_connect = lambda *_: marks.update(connects=marks["connects"] + 1)
    c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
    c.connect_async(*cluster.endpoint(node))
    c.loop_start()
    got.wait(WAIT_S)
    c.disconnect()
    c.loop_stop()
    return [marks.get(x, math.nan) for x in ("connack", "receipt", "connects", "refused")]


def _sess_leader_kill(ctx: Ctx) -> None:
    runs = ctx.n(8, 2)
    got: list[tuple[str, bool, list[list[float]], str]] = []  # node, led SESS, per client kind, elected
    with _ha_cluster(ctx, "ha-sess-kill", 2 * runs) as (cluster, _site_file, t):
        for i in range(runs):
            leader = _stream_leader(cluster, SESS)
            k = pick_victim(i, leader, (1, 2, 0))  # node 0 (the console's) only when it leads SESS
            con, unit = [n for n in range(3) if n != k]
            cluster.wait_ready(60, node=unit)  # the unit's node has served MQTT (set up its sessions)
            echo = _echo(cluster, t, con)
            try:
                cluster.kill_node(k)
                t0, w0 = time.monotonic(), time.time()
                with ThreadPoolExecutor(2) as ex:  # both kinds at once, each its own unit
                    per = list(ex.map(partial(_after_kill, cluster, t, unit, t0, i), (0, 1)))
                el = elections(_node_logs(cluster), w0, time.time())
                got.append((cluster.nodes[k].name, leader == k, per, el))
            finally:
                echo.disconnect()
                echo.loop_stop()
            cluster.start_node(k)
            cluster.wait_ready(60, node=k)
            time.sleep(2)  # the node's streams catch up
    for (q, kind), (led, who), (j, what) in itertools.product(
        enumerate(KINDS),
        ((True, "led"), (False, "did not lead")),
        enumerate(("CONNACK", "receipt")),
    ):
        xs = [r[2][q][j] for r in got if r[1] is led]
        ok, lost = sorted(x for x in xs if not math.isnan(x)) or [math.nan], sum(map(math.isnan, xs))
        if xs:
            label = (
                f"`{SESS}` leader kill, fresh {kind} client on a survivor: kill -9 → {what} when the killed "
                f"node {who} `{SESS}`, median of {len(xs)} (max {ok[-1]:.2f} s"
                + (f", {lost} none in {WAIT_S:.0f} s)" if lost else ")")
            )
            met = not lost and ok[-1] <= 3 if j else None
            ctx.res.add(Row(SC, label, statistics.median(ok), "s", target="≤ 3 s" if j else "", met=met))
    marks = "; ".join(
        f"{n}{' (led)' if led else ''}: "
        + ", ".join(
            f"{kd} {x[0]:.2f}/{x[1]:.2f} s (CONNECT attempts {x[2]:.0f}, SUBSCRIBEs refused {x[3]:.0f})"
            for kd, x in zip(KINDS, pk, strict=True)
        )
        + f" [new leaders: {e}]"
        for n, led, pk, e in got
    )
    ctx.res.note(
        SC,
        f"Session leader kill: {runs} runs; even runs SIGKILL the last `{SESS}` leader (nodes' logs), odd "
        f"runs another; at once two fresh paho clients (new unit logins) connect to a survivor, a clean "
        f"session with QoS0 and a persistent one with QoS1 (the unit's way); the console login on the other "
        f"survivor (n1 unless killed) echoes events as QoS0 receipts. Kill → CONNACK / receipt: {marks} "
        f"(+s: kill → that stream's election). A clean session does not avoid the session stream: "
        f"nats-server 2.9 looks every MQTT session up, clean or not, in `{SESS}` before it answers CONNECT; "
        f"with no leader there it gives up after 4 s and closes the connection ('unable to connect' in its "
        f"log), so the CONNACK waits for the election and the client's next retry. A QoS1 subscription needs "
        f"a new JetStream consumer too, refused after 4 s in some runs that did not kill `{SESS}`'s leader.",
    )
