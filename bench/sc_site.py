"""Scenarios `scale`, `latency` and `burst`: one generated site with many desk units, the real
`alarm-console serve` and `alarm-sim` over the real broker.

Order in one system (so the 2,000 units start once): scale (idle CPU/RSS over >= 30 s with
heartbeats, then 50 presses), latency (1,000 single presses, paced), burst (500 units at once).
Every press is on a unit that has not been pressed before, so each press is a new incident.

Timestamps: a press is "detected" `min_hold_ms` after the contact closed; the unit event's
`occurred_at` is when the contact closed (unit clock = host clock). So
press -> notification = capture receive time of the first `person/<lead>/notify` (reason alarm)
for the incident - (occurred_at + min_hold_ms). The receipt figure is alarm-sim's own
`latency_ms` (detection -> receipt, integer ms).
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from bench.ctx import Ctx
from bench.modes import QUIET, Mode, compete, start_system, throttle_note
from bench.report import Row
from bench.stats import Stats
from bench.system import Capture, Msg, Sink, iso, sample
from stilalarm.devkit.localsystem import LocalSystem, SimProcess
from stilalarm.devkit.sitegen import write_many_units
from stilalarm.inventory import load_site
from stilalarm.wire.topics import PersonChannel, Topics, UnitChannel


@dataclass
class Presses:
    units: list[str]
    sent_at: float
    press_notify: list[float] = field(default_factory=list)  # ms, detection -> first notification
    # ms, detection -> first notification on the observer's own QoS1 subscription, when the
    # notifications were taken from a capture subscribed as the leads' consoles are (`collect`)
    press_notify_qos1: list[float] = field(default_factory=list)
    event_notify: list[float] = field(default_factory=list)  # ms, event on the broker -> notification
    event_receipt: list[float] = field(default_factory=list)  # ms, event -> receipt, both as captured
    receipt: list[float] = field(default_factory=list)  # ms, alarm-sim latency_ms
    incidents: set[str] = field(default_factory=set)
    occurred_spread_ms: float = 0.0
    lost: int = 0
    complete_s: float = 0.0


def _wait_receipts(sim: SimProcess, units: set[str], timeout: float) -> float:
    """Wait until every unit in `units` printed the receipt of an alarm (the one press each had: a
    receipt of another kind, such as a unit's earlier boot event, does not count, as in `collect`);
    returns the seconds waited."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        with sim._cond:
            got = {
                ln["unit"]
                for ln in sim.lines
                if ln.get("event") == "receipt" and ln.get("unit") in units and ln.get("kind") == "alarm"
            }
        if got >= units:
            break
        time.sleep(0.05)
    return time.monotonic() - t0


def _first_notes(t: Topics, msgs: list[Msg]) -> dict[str, float]:
    """Incident id -> when its first alarm notification to a person was captured."""
    first: dict[str, float] = {}
    for m in msgs:
        of_person = t.parse_person(m.topic)
        if of_person is not None and of_person[1] is PersonChannel.NOTIFY:
            obj = m.json()
            inc = obj.get("incident_id")
            if obj.get("reason") == "alarm" and inc and inc not in first:
                first[inc] = m.at
    return first


def collect(
    t: Topics,
    cap: Capture,
    sim: SimProcess,
    p: Presses,
    min_hold_ms: int,
    mark: int,
    wait_s: float,
    leads: tuple[Capture, int] | None = None,
) -> Presses:
    """Join the sim's receipt lines with the captured events, receipts and notifications.
    `leads` (a capture of the people's notify topics and its mark): the first notification is
    taken from it, and `cap`'s own copy goes to `press_notify_qos1`."""
    want = set(p.units)
    p.complete_s = _wait_receipts(sim, want, wait_s)
    # the first notification of every incident: give the last ones a moment
    deadline = time.monotonic() + 5
    while True:
        msgs = cap.since(mark)
        events: dict[str, tuple[str, float, float]] = {}  # event_id -> (unit, occurred, seen)
        rc: dict[str, str] = {}  # event_id -> incident
        rc_at: dict[str, float] = {}  # event_id -> when its receipt was captured
        own_note = _first_notes(t, msgs)
        first_note = own_note if leads is None else _first_notes(t, leads[0].since(leads[1]))
        for m in msgs:
            of_unit = t.parse_unit(m.topic)
            if of_unit is not None:
                unit, chan = of_unit
                if unit not in want:
                    continue
                obj = m.json()
                if chan is UnitChannel.EVENT and obj.get("kind") == "alarm" and obj.get("attempt", 1) == 1:
                    events[obj["event_id"]] = (unit, iso(obj["occurred_at"]), m.at)
                elif chan is UnitChannel.RECEIPT and not obj.get("duplicate"):
                    rc[obj["event_id"]] = obj.get("incident_id") or ""
                    rc_at[obj["event_id"]] = m.at
        incs = {rc[e] for e in events if e in rc}
        if (incs <= set(first_note) and incs <= set(own_note)) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for eid, (_u, occ, seen) in events.items():
        inc = rc.get(eid)
        if inc and inc in first_note:
            p.press_notify.append((first_note[inc] - occ) * 1000 - min_hold_ms)
            p.event_notify.append((first_note[inc] - seen) * 1000)
        if leads is not None and inc and inc in own_note:
            p.press_notify_qos1.append((own_note[inc] - occ) * 1000 - min_hold_ms)
        if eid in rc_at:
            p.event_receipt.append((rc_at[eid] - seen) * 1000)
    p.incidents = {rc[e] for e in events if e in rc}
    occ_all = [o for (_u, o, _s) in events.values()]
    p.occurred_spread_ms = (max(occ_all) - min(occ_all)) * 1000 if occ_all else float("nan")
    with sim._cond:
        lines: list[dict[str, Any]] = list(sim.lines)
    got_units = set()
    for ln in lines:
        if ln.get("event") == "receipt" and ln.get("unit") in want and ln.get("kind") == "alarm":
            got_units.add(ln["unit"])
            if ln.get("latency_ms") is not None:
                p.receipt.append(float(ln["latency_ms"]))
    p.lost = len(want - got_units)
    return p


def press(sim: SimProcess, units: list[str], interval_s: float) -> Presses:
    """Press each unit once; interval 0 = all in one write (a burst)."""
    t0 = time.time()
    if interval_s <= 0:
        assert sim.proc.stdin is not None
        sim.proc.stdin.write("".join(f"press {u}\n" for u in units).encode())
        sim.proc.stdin.flush()
    else:
        nxt = time.monotonic()
        for u in units:
            sim.send(f"press {u}")
            nxt += interval_s
            time.sleep(max(0.0, nxt - time.monotonic()))
    return Presses(units, t0)


def run_site(ctx: Ctx, which: set[str], mode: Mode = QUIET) -> None:
    """One system on a generated site; quiet: scale, latency, burst; busy (a CPU-bound competitor
    from the moment the units have settled) and pi4 (broker and console under a quota): latency
    and burst."""
    res = ctx.res
    n_units = ctx.n(2000, 300)
    d = ctx.dir(f"site-{mode.name}")
    site_file = d / "site.toml"
    ids = write_many_units(ctx.site_path, n_units, site_file)
    site = load_site(site_file)
    min_hold = site.unit(ids[0]).buttons[0].min_hold_ms
    ls = LocalSystem(site, site_file, d / "run")
    t = ls.topics
    cap = Capture()
    sink: Sink | None = None
    with ExitStack() as stack:  # closes after the finally below: quota groups go once all stopped
        try:
            quotas = start_system(
                ls,
                mode,
                stack,
                lambda: cap.start(
                    ls.broker,
                    [
                        t.all_units(UnitChannel.EVENT),
                        t.all_units(UnitChannel.RECEIPT),
                        t.all_people(PersonChannel.NOTIFY),
                        t.console_status(),
                    ],
                ),
            )
            cap.wait(
                lambda m: m.topic == t.console_status() and b'"online"' in m.payload, 60, "console online"
            )
            sink = Sink(
                ls.broker.dir,
                [
                    t.all_units(UnitChannel.HEARTBEAT),
                    t.all_units(UnitChannel.STATUS),
                    t.all_units(UnitChannel.EVENT),
                ],
                log=d / "sink.log",
            )
            sink.line(30)
            t0 = time.monotonic()
            sim = ls.start_sim(units=",".join(ids), extra=["--log-level", "WARNING"])
            ready = sim.wait(lambda ln: ln.get("event") == "ready", 300, "alarm-sim ready")
            if mode.name == "quiet":
                res.note(
                    "scale",
                    f"alarm-sim: {n_units} units connected {time.monotonic() - t0:.1f} s after start.",
                )
            time.sleep(ctx.n(8, 4))  # births and first heartbeats settle
            assert ls.console is not None and ls.broker.pid is not None
            pool = list(ids)
            if "scale" in which and mode.name == "quiet":
                pool = _scale(ctx, ls, cap, sim, sink, pool, min_hold, ready)
            hog = compete(mode, stack)
            if "latency" in which:
                pool = _latency(ctx, mode, t, cap, sim, pool, min_hold, n_units)
            if "burst" in which:
                pool = _burst(ctx, mode, t, cap, sim, pool, min_hold)
            if quotas:
                res.note(mode.scenario("latency"), "latency + burst: " + throttle_note(quotas) + ".")
            if hog is not None:
                res.note(
                    mode.scenario("latency"),
                    f"CPU-bound competitor: {hog.n} busy process(es) (one per core minus one, normal "
                    f"priority), started after the units settled; it used {hog.cpu_pct():.0f} % of a core "
                    "during latency and burst.",
                )
        finally:
            cap.stop()
            if sink is not None:
                sink.stop()
            ls.stop()


def _scale(
    ctx: Ctx,
    ls: LocalSystem,
    cap: Capture,
    sim: SimProcess,
    sink: Sink,
    pool: list[str],
    min_hold: int,
    ready: dict[str, Any],
) -> list[str]:
    res = ctx.res
    t = ls.topics
    n_units = len(pool)
    assert ls.console is not None and ls.broker.pid is not None
    secs = ctx.n(30, 10)
    use = sample(
        {
            "console": ls.console.pid,
            "sink": sink.pid,
            "mosquitto": ls.broker.pid,
            "sim": sim.proc.pid,
        },
        secs,
    )
    c, s = use["console"], use["sink"]
    res.add(
        Row(
            "scale",
            f"console CPU, {n_units} units idle, {c.seconds:.0f} s",
            c.cpu_pct,
            "% core",
            s.cpu_pct,
            "bare paho subscriber, same topics",
            "≤ 20 %",
            c.cpu_pct <= 20,
        )
    )
    res.add(
        Row(
            "scale",
            "console RSS (peak)",
            c.rss_mb,
            "MiB",
            s.rss_mb,
            "bare paho subscriber",
            "≤ 150 MiB",
            c.rss_mb <= 150,
        )
    )
    res.note(
        "scale",
        f"Same window: mosquitto {use['mosquitto'].cpu_pct:.1f} % CPU / "
        f"{use['mosquitto'].rss_mb:.0f} MiB; alarm-sim {use['sim'].cpu_pct:.1f} % / "
        f"{use['sim'].rss_mb:.0f} MiB; heartbeats {n_units / 5:.0f}/s (every 5 s per unit); "
        f"alarm-sim connect_s {ready.get('connect_s')}.",
    )
    n50 = ctx.n(50, 20)
    units, pool = pool[:n50], pool[n50:]
    m = cap.mark()
    p = collect(t, cap, sim, press(sim, units, 0.1), min_hold, m, 30)
    st = Stats.of(p.press_notify)
    res.add(
        Row(
            "scale",
            f"{n50} presses, press → first notification p99",
            st.p99,
            "ms",
            ctx.base.get("ins_p99"),
            "insert hop p99",
            "≤ 20 ms",
            st.p99 <= 20,
        )
    )
    res.note(
        "scale",
        f"{n50} presses: press→notification {st.fmt()}, receipts {Stats.of(p.receipt).fmt()}, lost {p.lost}.",
    )
    return pool


def _latency(
    ctx: Ctx,
    mode: Mode,
    t: Topics,
    cap: Capture,
    sim: SimProcess,
    pool: list[str],
    min_hold: int,
    n_units: int,
) -> list[str]:
    res = ctx.res
    sc = mode.scenario("latency")
    # the Pi estimate: fewer presses at 10/s (still far above any office), so that the figure is a
    # press's own latency on a slow core rather than a queue built up by the pace
    n = ctx.n(300, 100) if mode.pi4 else ctx.n(1000, 200)
    rate = 10 if mode.pi4 else 50
    units, pool = pool[:n], pool[n:]
    m = cap.mark()
    p = collect(t, cap, sim, press(sim, units, 1 / rate), min_hold, m, 60)
    st, ev, rc = Stats.of(p.press_notify), Stats.of(p.event_notify), Stats.of(p.receipt)
    q = ctx.quiet
    for k, v in (("lat_p50", st.p50), ("lat_p99", st.p99), ("rc_p99", rc.p99)):
        q[mode.key(k)] = v
    if mode.name == "quiet":
        bi = ctx.base_stats.get("insert")
        res.add(
            Row(
                sc,
                f"press → first notification p50 (n={st.n})",
                st.p50,
                "ms",
                bi.p50 if bi else None,
                "insert hop p50",
                "≤ 3 ms",
                st.p50 <= 3,
            )
        )
        res.add(
            Row(
                sc,
                "press → first notification p99",
                st.p99,
                "ms",
                bi.p99 if bi else None,
                "insert hop p99",
                "≤ 10 ms",
                st.p99 <= 10,
            )
        )
        res.add(
            Row(
                sc,
                "press → receipt at the unit (LED stored) p99",
                rc.p99,
                "ms",
                bi.p99 if bi else None,
                "insert hop p99",
                "≤ 15 ms",
                rc.p99 <= 15,
            )
        )
    elif mode.busy:
        bq, bb = ctx.base_stats.get("insert"), ctx.base_stats.get("insert_busy")
        bare50 = bb.p50 / bq.p50 if bq and bb else None
        bare99 = bb.p99 / bq.p99 if bq and bb else None
        q50, q99 = q.get("lat_p50"), q.get("lat_p99")
        ratio99 = st.p99 / q99 if q99 else float("nan")
        ok = q99 is not None and st.p99 <= 2 * q99 and bare99 is not None and ratio99 <= 1.5 * bare99
        res.add(
            Row(
                sc,
                f"press → first notification p50 (n={st.n})",
                st.p50,
                "ms",
                bb.p50 if bb else None,
                "insert hop p50, busy",
                quiet=q50,
                bare_ratio=bare50,
            )
        )
        res.add(
            Row(
                sc,
                "press → first notification p99",
                st.p99,
                "ms",
                bb.p99 if bb else None,
                "insert hop p99, busy",
                "≤ 2× quiet, busy÷quiet ≤ 1.5× bare's",
                ok,
                quiet=q99,
                bare_ratio=bare99,
            )
        )
        res.add(
            Row(
                sc,
                "press → receipt at the unit (LED stored) p99",
                rc.p99,
                "ms",
                bb.p99 if bb else None,
                "insert hop p99, busy",
                quiet=q.get("rc_p99"),
                bare_ratio=bare99,
            )
        )
    else:  # the Pi estimate: the quiet targets, next to the full-speed figure of this run
        for what, v, qk, target, ok in (
            (f"press → first notification p50 (n={st.n})", st.p50, "lat_p50", "≤ 3 ms", st.p50 <= 3),
            ("press → first notification p99", st.p99, "lat_p99", "≤ 10 ms", st.p99 <= 10),
            ("press → receipt at the unit p99", rc.p99, "rc_p99", "≤ 15 ms", rc.p99 <= 15),
        ):
            res.add(
                Row(sc, mode.what("latency", what), v, "ms", q.get(qk), "full speed, same run", target, ok)
            )
    res.note(
        sc,
        mode.tag("latency")
        + f"{n} presses on {n_units} units (one press each, {rate}/s, every unit heartbeating every 5 s): "
        f"press→notification {st.fmt()}; unit event on the broker→notification {ev.fmt()}; "
        f"press→receipt (alarm-sim latency_ms, integer ms) {rc.fmt()}; incidents {len(p.incidents)}, "
        f"lost {p.lost}."
        + (
            f" 'press' = contact closed + min_hold_ms ({min_hold} ms), the moment the unit may report it."
            if mode.name == "quiet"
            else ""
        ),
    )
    return pool


def _burst(
    ctx: Ctx, mode: Mode, t: Topics, cap: Capture, sim: SimProcess, pool: list[str], min_hold: int
) -> list[str]:
    res = ctx.res
    sc = mode.scenario("burst")
    n = ctx.n(500, 100)
    units, pool = pool[:n], pool[n:]
    m = cap.mark()
    p = collect(t, cap, sim, press(sim, units, 0), min_hold, m, 120)
    st, rc = Stats.of(p.press_notify), Stats.of(p.receipt)
    ok = len(p.incidents) == n and p.lost == 0
    q = ctx.quiet
    q[mode.key("burst_p99")], q[mode.key("burst_rc_p99")] = st.p99, rc.p99
    bq, bb = ctx.base_stats.get("burst"), ctx.base_stats.get("burst_busy")
    if mode.busy:
        base, base_what = (bb.p99 if bb else None), "relay, fsync per message, busy"
        bare = bb.p99 / bq.p99 if bb and bq else None
        quiet_nt, quiet_rc = q.get("burst_p99"), q.get("burst_rc_p99")
    elif mode.pi4:
        base, base_what, bare = q.get("burst_p99"), "full speed, same run", None
        quiet_nt = quiet_rc = None
    else:
        base, base_what, bare = ctx.base.get("burst_p99"), "relay, fsync per message", None
        quiet_nt = quiet_rc = None
    res.add(
        Row(
            sc,
            mode.what("burst", f"{n} units press at once: incidents"),
            float(len(p.incidents)),
            f"of {n}",
            target=f"{n}/{n}, 0 lost",
            met=ok,
            note=f"lost {p.lost}",
        )
    )
    res.add(
        Row(
            sc,
            mode.what("burst", "press → first notification p99"),
            st.p99,
            "ms",
            base,
            base_what,
            "≤ 1,000 ms",
            st.p99 <= 1000,
            quiet=quiet_nt,
            bare_ratio=bare,
        )
    )
    res.add(
        Row(
            sc,
            mode.what("burst", "press → receipt at the unit p99"),
            rc.p99,
            "ms",
            q.get("burst_rc_p99") if mode.pi4 else base,
            base_what,
            "≤ 1,000 ms",
            rc.p99 <= 1000,
            quiet=quiet_rc,
            bare_ratio=bare,
        )
    )
    res.note(
        sc,
        mode.tag("burst") + f"{n} presses written to alarm-sim in one go; contacts closed within "
        f"{p.occurred_spread_ms:.0f} ms (occurred_at spread); all receipted after "
        f"{p.complete_s:.1f} s; "
        f"press→notification {st.fmt()}; press→receipt {rc.fmt()}; lost {p.lost}.",
    )
    return pool
