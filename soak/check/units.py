"""Invariants 4 and 5: acknowledgements reach the units' LEDs; killed and cut units are reported
offline in the bound and back online, and nobody else is."""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict

from soak.check.allowances import (
    BASE_SLACK_S,
    KILLS,
    LED_SLACK_S,
    RECONNECT_S,
    RECOVERY_S,
    SILENCE_BOUND_S,
    SYSTEM_FAULTS,
    UNIT_FAULTS,
    extended_deadline,
    fault_windows,
    inside,
    lost_windows,
)
from soak.check.capture import Wire
from soak.check.run import Db, Result, Run, clock, ts
from soak.site import HEARTBEAT_S


def inv4(run: Run, sim_units: set[str], db: Db, wire: Wire) -> Result:
    r = Result("4", "every ack reaches the unit's LED; the LED never says acknowledged wrongly")
    incidents = db.incidents
    lost = lost_windows(run)
    for t, unit, iid, issued in wire.acked_cmds:
        r.checked += 1
        inc = incidents.get(iid or "")
        ack = ts(inc["acknowledged_at"]) if inc else None
        if inc is None or ack is None or inc["unit_id"] != unit:
            if inside(issued, lost):
                continue  # acknowledged in memory by a console that then lost it (restart, disk full)
            r.fail(
                f"unit {unit} told 'acknowledged' for incident {iid}, which was not acknowledged",
                t,
                unit,
                iid,
            )
        elif ack > issued:
            r.fail(f"unit {unit} told 'acknowledged' for {iid} before it was acknowledged", t, unit, iid)
    acked_by_unit: dict[str, list[float]] = defaultdict(list)
    for inc in incidents.values():
        ack = ts(inc["acknowledged_at"])
        if ack is not None and inc["unit_id"] in sim_units:
            acked_by_unit[inc["unit_id"]].append(ack)
    leds: dict[str, list[float]] = defaultdict(list)  # unit -> times of `led acknowledged`, sorted
    for x in run.sim:
        if x.get("event") == "led" and x.get("pattern") == "acknowledged":
            leds[x["unit"]].append(x["t"])
            r.checked += 1
            if not any(a <= x["t"] + LED_SLACK_S for a in acked_by_unit.get(x["unit"], [])) and not inside(
                x["t"], [(s0, e0 + LED_SLACK_S) for s0, e0 in lost]
            ):
                r.fail(f"LED of {x['unit']} showed 'acknowledged' with no acknowledged incident of it",
                       x["t"], x["unit"])  # fmt: skip
    told = {iid for _t, _u, iid, _i in wire.acked_cmds}
    # the units stop after the drain (+ the runner's 2 s settle): an ack later than that is not owed a LED
    end = run.summary.get("phases", {}).get("drain_end", 1e20)
    for iid, inc in incidents.items():
        ack = ts(inc["acknowledged_at"])
        if ack is None or inc["unit_id"] not in sim_units or ack > end:
            continue
        r.checked += 1
        if iid not in told:
            r.fail(f"incident {iid} acknowledged, no 'acknowledged' command to {inc['unit_id']} seen",
                   ack, iid, inc["unit_id"])  # fmt: skip
        times = leds.get(inc["unit_id"], [])
        if bisect_left(times, ack - LED_SLACK_S) == len(times):
            r.fail(f"incident {iid} acknowledged, the LED of {inc['unit_id']} never showed it",
                   ack, iid, inc["unit_id"])  # fmt: skip
    return r


def _silence_deadline(start: float, deaf: list[tuple[float, float]]) -> float:
    """When a unit that fell silent at `start` must be reported offline: its last heartbeat (at
    most HEARTBEAT_S before) + the bound, moved on by every spell the console could not hear
    (its supervision re-baselines by the gap), + the slack."""
    deadline = start + SILENCE_BOUND_S
    while True:
        extra = sum(e0 - s0 for s0, e0 in deaf if s0 <= deadline and e0 >= start - HEARTBEAT_S)
        if start + SILENCE_BOUND_S + extra <= deadline:
            return deadline + BASE_SLACK_S
        deadline = start + SILENCE_BOUND_S + extra


def inv5(run: Run, sim_units: set[str], shard_of: dict[str, int], wire: Wire) -> Result:
    r = Result(
        "5", "killed and cut units reported offline in the bound and back online; nobody offline while fine"
    )
    end = run.summary.get("phases", {}).get("drain_end")
    if end is None:  # a run that did not finish: up to the first clean shutdown of a unit
        end = min(wire.quits, default=1e20) - 0.001
    seen = {u: [(t, on) for t, on in obs if t <= end] for u, obs in wire.unitstate.items()}
    system = fault_windows(run, SYSTEM_FAULTS)
    # for "owed": the outages themselves plus only the clients' reconnect after a broker restart
    # (the wider recovery allowance of invariant 2 would excuse kills that were in fact reported)
    outages = [
        (f["kind"], f["start"], f["end"] + (RECONNECT_S if f["kind"] == "broker_kill" else 0.0))
        for f in run.faults
        if f["kind"] in SYSTEM_FAULTS
    ]
    deaf = [(s0, e0) for _k, s0, e0 in outages]
    broker = [(s0, e0) for k, s0, e0 in outages if k.startswith("broker")]
    not_owed = 0
    cuts = 0
    for f in run.faults:
        if f["kind"] not in UNIT_FAULTS:
            continue
        units = sorted(u for u, s in shard_of.items() if f"shard-{s}" == f["target"])
        if f["kind"] in KILLS:
            # Owed an offline report: by the will, when the broker was up (and the unit connected) at
            # the kill; or by the silence, when the console could hear the unit missing for longer
            # than the supervision bound. A kill inside a broker outage gets neither.
            will = not any(s0 <= f["start"] <= e0 for s0, e0 in broker)
            audible = (f["end"] - f["start"]) - overlap(f["start"], f["end"], deaf)
            if not will and audible <= SILENCE_BOUND_S + BASE_SLACK_S:
                not_owed += 1
                continue
            for uid in units:
                r.checked += 1
                obs = seen.get(uid, [])
                before = [on for t, on in obs if t < f["start"]]
                if before and not before[-1]:
                    continue  # already reported offline (a cut just before the kill): nothing new owed
                # the report comes from the console: a console or broker outage over the end of the
                # window moves it on (a restarted console reports what it missed, then the return)
                until = extended_deadline(f["end"] + RECOVERY_S[f["kind"]], sorted(deaf))
                if not any(not on and f["start"] <= t <= until for t, on in obs):
                    r.fail(
                        f"unit {uid} killed at {clock(f['start'])} was never reported offline",
                        f["start"],
                        uid,
                    )
        else:
            # No FIN: only the heartbeat bound can tell. Each down spell (the whole cut, or each
            # down of a flapping link) longer than the bound, counted where the console could hear,
            # must be reported offline within the bound (extended by the console's deaf spells).
            downs = (
                [(f["start"], f["end"])] if f["kind"] == "net_cut" else [tuple(d) for d in f.get("downs", [])]
            )
            for d0, d1 in downs:
                audible = (d1 - d0) - overlap(d0, d1, deaf)
                if audible <= SILENCE_BOUND_S + BASE_SLACK_S:
                    not_owed += 1
                    continue
                deadline = _silence_deadline(d0, deaf)
                for uid in units:
                    r.checked += 1
                    cuts += 1
                    obs = seen.get(uid, [])
                    before = [on for t, on in obs if t < d0]
                    if before and not before[-1]:
                        continue  # still offline from a fault just before (cuts back to back)
                    if not any(not on and d0 <= t <= deadline for t, on in obs):
                        r.fail(f"unit {uid} cut off at {clock(d0)} was not reported offline within "
                               f"{deadline - d0:.1f} s", d0, uid)  # fmt: skip
        for uid in units:
            # back online after the fault, when it was reported offline during it (a short cut or
            # flap may never be heard: the unit stays online, with no new report)
            obs = seen.get(uid, [])
            window = f["end"] + RECOVERY_S[f["kind"]]
            if not any(not on and f["start"] <= t <= window for t, on in obs):
                continue
            r.checked += 1
            if not any(on and t >= f["end"] - 1.0 for t, on in obs):
                r.fail(f"unit {uid} back at {clock(f['end'])} ({f['kind']}) was never reported online again",
                       f["end"], uid)  # fmt: skip
    for uid in sorted(sim_units):
        obs = seen.get(uid, [])
        r.checked += 1
        if obs and not obs[-1][1]:
            r.fail(f"unit {uid} ends the run reported offline", obs[-1][0], uid)
        allowed = sorted(system + fault_windows(run, UNIT_FAULTS, f"shard-{shard_of.get(uid)}"))
        was = False  # the state before the unit first connected is "never seen", not a fault
        for t, on in obs:
            if was and not on and not inside(t, allowed):
                r.fail(f"unit {uid} reported offline at {clock(t)} with no fault on it", t, uid)
            was = on
    notes = []
    if cuts:
        notes.append(f"{cuts} cut(s) longer than the {SILENCE_BOUND_S} s bound checked")
    if not_owed:
        notes.append(
            f"{not_owed} kill(s) or cut(s) too short to be heard (or in a broker outage): no offline owed"
        )
    r.note = "; ".join(notes)
    return r


def overlap(start: float, end: float, windows: list[tuple[float, float]]) -> float:
    """Seconds of [start, end] covered by the windows (which may overlap each other)."""
    covered, cursor = 0.0, start
    for s0, e0 in sorted(windows):
        s0, e0 = max(s0, cursor), min(e0, end)
        if e0 > s0:
            covered += e0 - s0
            cursor = e0
    return covered
