"""Invariants 2 and 3: the escalation levels and repeats are on time, skip only the absent,
and page nobody twice for one level."""

from __future__ import annotations

from collections import defaultdict

from soak.check.allowances import (
    BASE_SLACK_S,
    EARLY_REPEAT_S,
    LED_SLACK_S,
    RECONNECT_S,
    RETRANSMIT_MAX_S,
    SYSTEM_FAULTS,
    UNIT_FAULTS,
    extended_deadline,
    fault_windows,
    inside,
    lost_windows,
)
from soak.check.capture import ALL_PAGES, PAGES, Note, Wire
from soak.check.presses import crash_events
from soak.check.run import Db, Result, Run, clock, ts
from stilalarm.console.facts import (
    ConsoleLinked,
    Fact,
    LevelSkipped,
    Notified,
    PresenceChanged,
)
from stilalarm.inventory.model import Site


class Presence:
    """Who the engine skips (marked absent, or every console gone), replayed from the log in order."""

    def __init__(self) -> None:
        self.absent: set[str] = set()
        self.consoles: dict[str, set[str]] = {}

    def fold(self, f: Fact) -> None:
        if isinstance(f, PresenceChanged):
            (self.absent.discard if f.present else self.absent.add)(f.person_id)
        elif isinstance(f, ConsoleLinked):
            live = self.consoles.setdefault(f.person_id, set())
            (live.add if f.online else live.discard)(f.console_id)

    def away(self, person: str) -> bool:
        return person in self.absent or (person in self.consoles and not self.consoles[person])


def _check_presence(
    r: Result, run: Run, site: Site, sim_units: set[str], db: Db
) -> tuple[set[tuple[str, int]], int]:
    """Replay the log: a level may be skipped only when every target of it is away, a level
    (or repeat) pages nobody who is away unless it is the last level and all of its targets are,
    and an absence must come from a `lead_absent` fault of that person. Returns the skipped
    (incident, level) pairs and how many pages went out while someone was absent."""
    skipped: set[tuple[str, int]] = set()
    pres = Presence()
    during = 0
    absent_since: dict[str, float] = {}
    windows: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for fl in run.faults:
        if fl["kind"] == "lead_absent":
            windows[fl.get("person") or fl["target"].removeprefix("lead-")].append((fl["start"], fl["end"]))
    for f in db.facts:
        if isinstance(f, PresenceChanged):
            at = f.at.timestamp()
            if not f.present:
                absent_since[f.person_id] = at
            elif f.person_id in absent_since:
                s0 = absent_since.pop(f.person_id)
                if not any(a <= at + LED_SLACK_S and b >= s0 - LED_SLACK_S for a, b in windows[f.person_id]):
                    r.fail(f"{f.person_id} was absent {clock(s0)}-{clock(at)} with no lead_absent fault", s0)
        pres.fold(f)
        if isinstance(f, LevelSkipped | Notified) and f.incident_id in db.incidents:
            inc = db.incidents[f.incident_id]
            if inc["unit_id"] not in sim_units:
                continue
            pol = site.team(inc["team_id"]).escalation
            last = len(pol.levels)
            if isinstance(f, LevelSkipped):
                skipped.add((f.incident_id, f.level))
                targets = site.resolve_targets(inc["team_id"], pol.levels[f.level - 1].notify)
                here = [p for p in targets if not pres.away(p)]
                r.checked += 1
                if here or f.level == last:
                    why = here or "it is the last"
                    r.fail(f"incident {f.incident_id}: level {f.level} skipped while {why} "
                           "(only a level whose targets are all absent passes on)",
                           f.at.timestamp(), f.incident_id)  # fmt: skip
                continue
            if f.reason.value not in ALL_PAGES:
                continue
            gone = [p for p in f.person_ids if pres.away(p)]
            if not gone:
                continue
            during += 1
            targets = site.resolve_targets(inc["team_id"], pol.levels[f.level - 1].notify)
            everyone_away = all(pres.away(p) for p in targets)
            if not (f.level == last and everyone_away):
                r.fail(f"incident {f.incident_id}: level {f.level} {f.reason.value} paged {gone}, "
                       "who were absent",
                       f.at.timestamp(), f.incident_id)  # fmt: skip
    return skipped, during


def inv2(run: Run, site: Site, sim_units: set[str], shard_of: dict[str, int], db: Db, wire: Wire) -> Result:
    r = Result("2", "level 1 for every incident, each next level on time unless acknowledged, none after; "
                    "repeats of the last level; nobody absent paged")  # fmt: skip
    incidents = db.incidents
    first: dict[tuple[str, int], Note] = {}
    fires: dict[str, dict[float, Note]] = defaultdict(dict)  # incident -> console time -> first note
    last_level = {t.id: len(t.escalation.levels) for t in site.teams}
    for n in wire.notes:
        inc = incidents.get(n.incident_id)
        if inc is None:
            continue
        if n.reason in PAGES:
            key = (n.incident_id, n.level)
            if key not in first or n.t < first[key].t:
                first[key] = n
        if n.level == last_level[inc["team_id"]]:
            byat = fires[n.incident_id]
            if n.at not in byat or n.t < byat[n.at].t:
                byat[n.at] = n
    pressed: dict[str, float] = {}
    stored = {x["event_id"]: x["t"] for x in run.sim if x.get("event") == "alarm_stored"}
    for eid, crash in crash_events(run).items():  # pressed at the fault's start (the press)
        stored[eid] = min(stored.get(eid, 1e20), crash["start"])
    for eid, row in db.received.items():
        if row["incident_id"] is not None and eid in stored:
            pressed[row["incident_id"]] = min(pressed.get(row["incident_id"], 1e20), stored[eid])
    system = fault_windows(run, SYSTEM_FAULTS)
    lost = lost_windows(run)
    # level 1 of a press held in memory by a console that restarted while the disk was full: the
    # unit's retransmission brings it back, at most RETRANSMIT_MAX_S after the restart
    held = [(s0, e0 + RETRANSMIT_MAX_S) for s0, e0 in lost]
    unit_windows = {
        s: sorted(system + held + fault_windows(run, UNIT_FAULTS, f"shard-{s}"))
        for s in set(shard_of.values())
    }
    skipped, during = _check_presence(r, run, site, sim_units, db)
    end = run.summary.get("phases", {}).get("drain_end") or (wire.last_t - RECONNECT_S)
    worst = 0.0
    in_fault = 0
    repeats = 0
    press_to_page: list[float] = []
    for iid, inc in incidents.items():
        unit = inc["unit_id"]
        if unit not in sim_units:
            continue
        stored_at = ts(inc["stored_at"])
        ack = ts(inc["acknowledged_at"])
        assert stored_at is not None
        pol = site.team(inc["team_id"]).escalation
        own = unit_windows.get(shard_of.get(unit, -1), system)
        carried: tuple[float, list[tuple[float, float]]] | None = None
        for k, lv in enumerate(pol.levels, start=1):
            if k == 1 and iid in pressed:  # level 1: from the press on the unit, not from the store
                due, windows = pressed[iid], own
            else:
                due, windows = stored_at + lv.after_s, system
            if carried is not None and carried[0] <= due:
                due, windows = carried  # the level before was skipped: this one fires at once
            carried = None
            if (iid, k) in skipped:
                carried = (due, windows)
                continue
            deadline = extended_deadline(due, windows)
            seen = first.get((iid, k))
            if seen is not None and ack is not None and seen.at > ack:
                r.fail(f"incident {iid}: level {k} notified after its acknowledgement", seen.t, iid, unit)
            # acknowledged before the deadline and never notified: the level was not late when the
            # acknowledgement came (the console takes an input before its timers at the same time)
            if seen is None and ack is not None and ack <= deadline:
                continue
            if seen is None and deadline > end:
                continue  # due after the run's end
            r.checked += 1
            in_fault += deadline > due + BASE_SLACK_S
            if seen is None:
                r.fail(
                    f"incident {iid} of {unit}: level {k} never notified (due {clock(due)})", due, iid, unit
                )
                continue
            worst = max(worst, seen.t - due if deadline == due + BASE_SLACK_S else 0.0)
            if k == 1 and iid in pressed:
                press_to_page.append(seen.t - due)
            if seen.t > deadline:
                r.fail(
                    f"incident {iid} of {unit}: level {k} arrived {seen.t - due:.1f} s after it was due "
                    f"(allowed {deadline - due:.1f} s with the faults at that time)",
                    due, iid, unit,
                )  # fmt: skip
        # the last level repeats every repeat_every_s (counted from the previous page, console
        # clock) until it is acknowledged
        chain = sorted(fires.get(iid, {}).values(), key=lambda n: n.at)
        for i, n in enumerate(chain):
            if i and ack is not None and n.at > ack:
                r.fail(f"incident {iid}: repeat at {clock(n.at)} after its acknowledgement", n.t, iid, unit)
            due = n.at + pol.repeat_every_s
            deadline = extended_deadline(due, system)
            nxt = chain[i + 1] if i + 1 < len(chain) else None
            if nxt is None and ((ack is not None and ack <= deadline) or deadline > end):
                continue  # acknowledged in time (or the run ended): no more repeats owed
            r.checked += 1
            repeats += 1
            if nxt is None:
                r.fail(f"incident {iid} of {unit}: no repeat after {clock(n.at)} (due {clock(due)})",
                       due, iid, unit)  # fmt: skip
                continue
            if nxt.t > deadline:
                r.fail(
                    f"incident {iid} of {unit}: repeat arrived {nxt.t - due:.1f} s after it was due "
                    f"(allowed {deadline - due:.1f} s with the faults at that time)",
                    due, iid, unit,
                )  # fmt: skip
            if nxt.at < due - EARLY_REPEAT_S and not inside(n.at, lost):
                r.fail(f"incident {iid} of {unit}: repeat {nxt.at - n.at:.2f} s after the previous page "
                       f"(every {pol.repeat_every_s} s)", nxt.t, iid, unit)  # fmt: skip
    p = sorted(press_to_page)
    spread = f"; press -> level 1: median {p[len(p) // 2]:.3f} s, max {p[-1]:.1f} s" if p else ""
    r.note = (
        f"{in_fault} due inside a fault window; worst lateness outside them {worst:.2f} s "
        f"(allowed {BASE_SLACK_S} s); {repeats} repeats, {len(skipped)} levels skipped, "
        f"{during} pages while someone was absent{spread}"
    )
    return r


def inv3(run: Run, wire: Wire) -> Result:
    r = Result("3", "no level notified twice to a person for one incident (distinct notice ids)")
    ids: dict[tuple[str, str, int], dict[str, Note]] = defaultdict(dict)
    copies: dict[str, int] = defaultdict(int)
    for n in wire.notes:
        if n.reason not in PAGES:
            continue
        ids[(n.incident_id, n.person_id, n.level)].setdefault(n.notification_id, n)
        copies[n.notification_id] += 1
    again = sum(1 for c in copies.values() if c > 1)
    lost = lost_windows(run)
    excused = 0
    r.checked = len(ids)
    for (iid, person, level), seen in ids.items():
        if len(seen) > 1:
            # a page held in memory by a console that then restarted with the disk full is not in
            # the log: the restarted console pages that level again (console/shell/)
            held = sorted(seen.values(), key=lambda n: n.at)[:-1]
            if all(inside(n.at, lost) for n in held):
                excused += 1
                continue
            r.fail(f"incident {iid}: {person} paged at level {level} under {len(seen)} notice ids "
                   f"{sorted(seen)}",
                   min(n.t for n in seen.values()), iid)  # fmt: skip
    r.note = f"{again} notice(s) seen more than once under the same id (a redelivery, allowed)"
    if excused:
        r.note += f"; {excused} paged again after a restart with the disk full (held page lost)"
    return r
