"""Invariant 1: every real press gives exactly one incident, or joins its unit's open one."""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from typing import Any

from soak.check.allowances import (
    KILL_LINE_S,
    KILLS,
)
from soak.check.capture import Wire
from soak.check.run import Db, Result, Run, ts

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def crash_events(run: Run) -> dict[str, dict[str, Any]]:
    """Event id -> its `unit_crash_*` fault, when the fault's note names it: a press the unit
    stored and then died on (before its publish, or before it recorded the receipt)."""
    out: dict[str, dict[str, Any]] = {}
    for f in run.faults:
        if f["kind"].startswith("unit_crash_"):
            for eid in {*_UUID.findall(f.get("note", "")), *([f["event_id"]] if f.get("event_id") else [])}:
                out[eid] = f
    return out


def _receipt_died_with_unit(run: Run, x: dict[str, Any], sent: list[tuple[float, str | None]]) -> bool:
    """A receipt on the wire for this press, then a kill of the unit's process generation within
    KILL_LINE_S of it (before the unit printed its receipt line), and no resend of the event by
    any later generation (the outbox had recorded the receipt)."""
    gen, shard = x.get("gen"), x.get("shard")
    if not sent or gen is None:
        return False
    kills = [f for f in run.faults if f["kind"] in KILLS and f["target"] == f"shard-{shard}"]
    first = min(t for t, _ in sent)
    died = any(first <= f["start"] + KILL_LINE_S and f["start"] <= first + KILL_LINE_S for f in kills)
    later = (y for y in run.sim if y.get("event") == "receipt" and y.get("gen", 0) > gen)
    return died and not any(y.get("event_id") == x["event_id"] for y in later)


def inv1(run: Run, sim_units: set[str], db: Db, wire: Wire | None = None) -> Result:
    r = Result("1", "every real press: exactly one incident, or joins its unit's open one (by event_id)")
    received, incidents = db.received, db.incidents
    stored = {x["event_id"]: x for x in run.sim if x.get("event") == "alarm_stored"}
    # a unit that crashed right after its outbox write may never have printed the stored line:
    # the fault's note names the event, and the unit must deliver it after its restart
    for eid, f in crash_events(run).items():
        if eid not in stored:
            shard = f["target"]
            unit = next(
                (x["unit"] for x in run.sim if f"shard-{x.get('shard')}" == shard and x.get("unit")), None
            )
            stored[eid] = {"event_id": eid, "unit": unit, "t": f["start"], "crash": f["kind"]}
    receipts: dict[str, set[str | None]] = defaultdict(set)
    for x in run.sim:
        if x.get("event") == "receipt":
            receipts[x["event_id"]].add(x.get("incident_id"))
    r.checked = len(stored)
    lost_lines = 0
    for eid, x in stored.items():
        row = received.get(eid)
        if row is None:
            r.fail(f"press {eid} of {x['unit']} stored on the unit, never stored by the console (lost)",
                   x["t"], x["unit"], eid)  # fmt: skip
            continue
        if row["unit_id"] != x["unit"]:
            r.fail(
                f"press {eid} of {x['unit']} stored by the console for unit {row['unit_id']}",
                x["t"],
                x["unit"],
            )
        if row["incident_id"] is None or row["incident_id"] not in incidents:
            r.fail(
                f"press {eid} of {x['unit']} stored without an incident ({row['incident_id']})",
                x["t"],
                x["unit"],
            )
        got = receipts.get(eid, set())
        if not got and wire is not None and _receipt_died_with_unit(run, x, wire.receipts.get(eid, [])):
            # The console's receipt reached the unit and it was killed before it printed the line:
            # its next start did not resend the event, so the receipt had been recorded.
            got = {t_inc[1] for t_inc in wire.receipts[eid]}
            lost_lines += 1
        if not got:
            r.fail(f"press {eid} of {x['unit']} never receipted to the unit", x["t"], x["unit"], eid)
        elif got != {row["incident_id"]}:
            # a resend after a restart (unit_crash_*, unit_kill) must map to the same incident
            r.fail(
                f"press {eid} of {x['unit']}: receipts name {sorted(map(str, got))}, "
                f"the log {row['incident_id']}",
                x["t"], x["unit"], eid,
            )  # fmt: skip
    # a unit killed between its outbox write and its `alarm_stored` line resends the event after
    # the restart: its receipt line is then the unit's own word that it held the event
    for eid, row in received.items():
        if (
            row["unit_id"] in sim_units
            and row["kind"] == "alarm"
            and eid not in stored
            and eid not in receipts
        ):
            r.fail(f"the console stored alarm {eid} of {row['unit_id']} that no unit pressed",
                   ts(row["at"]), row["unit_id"])  # fmt: skip
    by_unit: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for inc in incidents.values():
        if inc["unit_id"] in sim_units:
            by_unit[inc["unit_id"]].append(inc)
    presses: dict[str, int] = defaultdict(int)
    for row in received.values():
        if row["incident_id"] is not None:
            presses[row["incident_id"]] += 1
    for unit, incs in by_unit.items():
        incs.sort(key=lambda i: i["stored_at"])
        for a, b in itertools.pairwise(incs):
            if a["resolved_at"] is None or a["resolved_at"] > b["stored_at"]:
                r.fail(
                    f"unit {unit}: incident {b['incident_id']} opened while {a['incident_id']} was still "
                    f"{a['status']} (a duplicate incident)",
                    ts(b["stored_at"]), unit, a["incident_id"], b["incident_id"],
                )  # fmt: skip
        for inc in incs:
            if inc["presses"] != presses[inc["incident_id"]]:
                r.fail(
                    f"incident {inc['incident_id']} counts {inc['presses']} presses, the log has "
                    f"{presses[inc['incident_id']]} events for it",
                    ts(inc["stored_at"]), unit, inc["incident_id"],
                )  # fmt: skip
    if lost_lines:
        r.note = f"{lost_lines} receipt line(s) lost with a kill (receipt on the wire, not resent after)"
    return r
