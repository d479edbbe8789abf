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
from dataclasses import dataclass, field
from typing import Any

from bench.ctx import Ctx
from bench.report import Row
from bench.stats import Stats
from bench.system import Capture, Sink, iso, sample
from stilalarm.devkit.localsystem import LocalSystem, SimProcess
from stilalarm.devkit.sitegen import write_many_units
from stilalarm.inventory import load_site
from stilalarm.wire.topics import PersonChannel, Topics, UnitChannel


@dataclass
class Presses:
    units: list[str]
    sent_at: float
    press_notify: list[float] = field(default_factory=list)  # ms, detection -> first notification
    event_notify: list[float] = field(default_factory=list)  # ms, event on the broker -> notification
    receipt: list[float] = field(default_factory=list)  # ms, alarm-sim latency_ms
    incidents: set[str] = field(default_factory=set)
    occurred_spread_ms: float = 0.0
    lost: int = 0
    complete_s: float = 0.0


def _wait_receipts(sim: SimProcess, units: set[str], timeout: float) -> float:
    """Wait until every unit in `units` printed a receipt; returns the seconds waited."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    while time.monotonic() < deadline:
        with sim._cond:
            got = {ln["unit"] for ln in sim.lines if ln.get("event") == "receipt" and ln.get("unit") in units}
        if got >= units:
            break
        time.sleep(0.05)
    return time.monotonic() - t0


def collect(
    t: Topics, cap: Capture, sim: SimProcess, p: Presses, min_hold_ms: int, mark: int, wait_s: float
) -> Presses:
    """Join the sim's receipt lines with the captured events, receipts and notifications."""
    want = set(p.units)
    p.complete_s = _wait_receipts(sim, want, wait_s)
    # the first notification of every incident: give the last ones a moment
    deadline = time.monotonic() + 5
    while True:
        msgs = cap.since(mark)
        events: dict[str, tuple[str, float, float]] = {}  # event_id -> (unit, occurred, seen)
        rc: dict[str, str] = {}  # event_id -> incident
        first_note: dict[str, float] = {}
        for m in msgs:
            of_unit = t.parse_unit(m.topic)
            of_person = t.parse_person(m.topic)
            if of_unit is not None:
                unit, chan = of_unit
                if unit not in want:
                    continue
                obj = m.json()
                if chan is UnitChannel.EVENT and obj.get("kind") == "alarm" and obj.get("attempt", 1) == 1:
                    events[obj["event_id"]] = (unit, iso(obj["occurred_at"]), m.at)
                elif chan is UnitChannel.RECEIPT and not obj.get("duplicate"):
                    rc[obj["event_id"]] = obj.get("incident_id") or ""
            elif of_person is not None and of_person[1] is PersonChannel.NOTIFY:
                obj = m.json()
                inc = obj.get("incident_id")
                if obj.get("reason") == "alarm" and inc and inc not in first_note:
                    first_note[inc] = m.at
        incs = {rc[e] for e in events if e in rc}
        if incs <= set(first_note) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for eid, (_u, occ, seen) in events.items():
        inc = rc.get(eid)
        if inc and inc in first_note:
            p.press_notify.append((first_note[inc] - occ) * 1000 - min_hold_ms)
            p.event_notify.append((first_note[inc] - seen) * 1000)
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


def run_site(ctx: Ctx, which: set[str]) -> None:
    res = ctx.res
    n_units = ctx.n(2000, 300)
    d = ctx.dir("site")
    site_file = d / "site.toml"
    ids = write_many_units(ctx.site_path, n_units, site_file)
    site = load_site(site_file)
    min_hold = site.unit(ids[0]).buttons[0].min_hold_ms
    ls = LocalSystem(site, site_file, d / "run")
    t = ls.topics
    ls.start_broker()
    cap = Capture().start(
        ls.broker,
        [
            t.all_units(UnitChannel.EVENT),
            t.all_units(UnitChannel.RECEIPT),
            t.all_people(PersonChannel.NOTIFY),
            t.console_status(),
        ],
    )
    sink: Sink | None = None
    try:
        ls.start_console()
        cap.wait(lambda m: m.topic == t.console_status() and b'"online"' in m.payload, 30, "console online")
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
        res.note("scale", f"alarm-sim: {n_units} units connected {time.monotonic() - t0:.1f} s after start.")
        time.sleep(ctx.n(8, 4))  # births and first heartbeats settle
        assert ls.console is not None and ls.broker.pid is not None
        pool = list(ids)
        if "scale" in which:
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
                f"{n50} presses: press→notification {st.fmt()}, receipts {Stats.of(p.receipt).fmt()}, "
                f"lost {p.lost}.",
            )
        if "latency" in which:
            n = ctx.n(1000, 200)
            units, pool = pool[:n], pool[n:]
            m = cap.mark()
            p = collect(t, cap, sim, press(sim, units, 0.02), min_hold, m, 60)
            st, ev, rc = Stats.of(p.press_notify), Stats.of(p.event_notify), Stats.of(p.receipt)
            bi = ctx.base_stats.get("insert")
            res.add(
                Row(
                    "latency",
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
                    "latency",
                    "press → first notification p99",
                    st.p99,
                    "ms",
                    bi.p99 if bi else None,
                    "insert hop p99",
                    "≤ 10 ms and ≤ 3× baseline",
                    st.p99 <= 10 and (bi is None or st.p99 <= 3 * bi.p99),
                )
            )
            res.add(
                Row(
                    "latency",
                    "press → receipt at the unit (LED stored) p99",
                    rc.p99,
                    "ms",
                    bi.p99 if bi else None,
                    "insert hop p99",
                    "≤ 15 ms",
                    rc.p99 <= 15,
                )
            )
            res.note(
                "latency",
                f"{n} presses on {n_units} units (one press each, 50/s, every unit heartbeating every 5 s): "
                f"press→notification {st.fmt()}; unit event on the broker→notification {ev.fmt()}; "
                f"press→receipt (alarm-sim latency_ms, integer ms) {rc.fmt()}; incidents {len(p.incidents)}, "
                f"lost {p.lost}. 'press' = contact closed + min_hold_ms ({min_hold} ms), the moment the "
                "unit may report it.",
            )
        if "burst" in which:
            n = ctx.n(500, 100)
            units, pool = pool[:n], pool[n:]
            m = cap.mark()
            p = collect(t, cap, sim, press(sim, units, 0), min_hold, m, 120)
            st, rc = Stats.of(p.press_notify), Stats.of(p.receipt)
            ok = len(p.incidents) == n and p.lost == 0
            res.add(
                Row(
                    "burst",
                    f"{n} units press at once: incidents",
                    float(len(p.incidents)),
                    f"of {n}",
                    target=f"{n}/{n}, 0 lost",
                    met=ok,
                    note=f"lost {p.lost}",
                )
            )
            res.add(
                Row(
                    "burst",
                    "press → first notification p99",
                    st.p99,
                    "ms",
                    ctx.base.get("burst_p99"),
                    "relay, fsync per message",
                    "≤ 1,000 ms",
                    st.p99 <= 1000,
                )
            )
            res.add(
                Row(
                    "burst",
                    "press → receipt at the unit p99",
                    rc.p99,
                    "ms",
                    ctx.base.get("burst_p99"),
                    "relay, fsync per message",
                    "≤ 1,000 ms",
                    rc.p99 <= 1000,
                )
            )
            res.note(
                "burst",
                f"{n} presses written to alarm-sim in one go; contacts closed within "
                f"{p.occurred_spread_ms:.0f} ms (occurred_at spread); all receipted after "
                f"{p.complete_s:.1f} s; "
                f"press→notification {st.fmt()}; press→receipt {rc.fmt()}; lost {p.lost}.",
            )
    finally:
        cap.stop()
        if sink is not None:
            sink.stop()
        ls.stop()
