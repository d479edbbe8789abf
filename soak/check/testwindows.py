"""Invariant 7: a test is recorded only for a test press inside an open window."""

from __future__ import annotations

import json
from collections import defaultdict

from soak.check.allowances import TEST_GUARD_S
from soak.check.run import Db, Result, Run, ts
from stilalarm.console.facts import (
    AlarmReceived,
    CampaignEnded,
    CampaignStarted,
    PressRepeated,
    TestResult,
)
from stilalarm.inventory.model import Site


def inv7(run: Run, site: Site, sim_units: set[str], db: Db) -> Result:
    """Replays the test-window rules over the log in order (console times; the unit's clock only
    for the engine's own second guard, from the stored event): each test press must be a test
    result exactly when an open window of its unit (its own, or its room's) takes it, else an
    alarm; a real press is never a test."""
    r = Result("7", "a test is recorded only for a test press inside an open window; the rest are alarms")
    alarms = {x["event_id"] for x in run.sim if x.get("event") == "alarm_stored"}
    tests = {x["event_id"]: x for x in run.sim if x.get("event") == "test_stored"}
    rooms = {u.id: u.room for u in site.units}
    open_: dict[str, CampaignStarted] = {}
    tested: dict[str, set[tuple[str, str]]] = defaultdict(set)  # campaign -> (unit, button)
    last: dict[tuple[str, str], tuple[float, float]] = {}  # (unit, button) -> (stored, pressed)
    verdict: dict[str, str] = {}  # event id -> "test" / "alarm", as the log says
    scopes = {"unit": 0, "room": 0}

    def occurred(eid: str) -> float | None:
        row = db.received.get(eid)
        if row is None:
            return None
        return ts(json.loads(bytes(row["payload"])).get("occurred_at"))

    def expected(unit: str, button: str, eid: str, now: float) -> str:
        key = (unit, button)
        if key in last:
            st, pr = last[key]
            was = occurred(eid)
            if now - st < TEST_GUARD_S or (was is not None and abs(was - pr) < TEST_GUARD_S):
                return "alarm"
        wins = [c for c in open_.values() if unit in c.unit_ids and c.until.timestamp() > now]
        return "test" if any(key not in tested[c.campaign_id] for c in wins) else "alarm"

    for f in db.facts:
        now = f.at.timestamp()
        for cid in [c for c, st in open_.items() if st.until.timestamp() <= now]:
            del open_[cid]  # expired (the engine ends it at its next tick; it takes no test after `until`)
        if isinstance(f, CampaignStarted):
            want = {"unit": (f.target,), "room": tuple(u for u, rm in rooms.items() if rm == f.target)}.get(
                f.scope.value
            )
            scopes[f.scope.value] = scopes.get(f.scope.value, 0) + 1
            if want is None or set(f.unit_ids) != set(want):
                r.fail(f"test window {f.campaign_id} ({f.scope.value} {f.target}) covers {list(f.unit_ids)}, "
                       f"not {list(want or ())}", now)  # fmt: skip
            open_[f.campaign_id] = f
        elif isinstance(f, CampaignEnded):
            open_.pop(f.campaign_id, None)
        elif isinstance(f, TestResult) and f.unit_id in sim_units:
            eid = str(f.event_id)
            r.checked += 1
            verdict[eid] = "test"
            if eid in alarms:
                r.fail(f"real press {eid} of {f.unit_id} recorded as a test", now, f.unit_id, eid)
            elif eid not in tests:
                r.fail(f"test result {eid} of {f.unit_id} for no test press of the unit", now, f.unit_id, eid)
            if expected(f.unit_id, f.button_id, eid, now) != "test":
                r.fail(f"test press {eid} of {f.unit_id} recorded as a test, no open window takes it "
                       f"(none open, already tested there, or within {TEST_GUARD_S:.0f} s of the last)",
                       now, f.unit_id, eid)  # fmt: skip
            if f.campaign_id is not None:
                tested[f.campaign_id].add((f.unit_id, f.button_id))
            last[(f.unit_id, f.button_id)] = (now, f.pressed_at.timestamp())
        elif isinstance(f, AlarmReceived | PressRepeated) and str(f.event_id) in tests:
            eid = str(f.event_id)
            r.checked += 1
            verdict[eid] = "alarm"
            if expected(f.unit_id, f.button_id, eid, now) == "test":
                r.fail(f"test press {eid} of {f.unit_id} inside an open window of it recorded as an alarm "
                       f"({f.test_refused})", now, f.unit_id, eid)  # fmt: skip
    for eid, x in tests.items():
        r.checked += 1
        row = db.received.get(eid)
        if row is None:
            r.fail(
                f"test press {eid} of {x['unit']} never stored by the console (lost)", x["t"], x["unit"], eid
            )
        elif eid not in verdict:
            r.fail(
                f"test press {eid} of {x['unit']} neither a test result nor an alarm", x["t"], x["unit"], eid
            )
    if not tests:
        r.note = "no test press in this run"
    else:
        as_alarm = sum(1 for e in tests if verdict.get(e) != "test")
        r.note = (f"{len(tests)} test presses: {len(tests) - as_alarm} as tests, {as_alarm} as alarms; "
                  f"windows: {scopes['unit']} unit, {scopes['room']} room")  # fmt: skip
    return r
