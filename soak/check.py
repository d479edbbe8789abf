"""The invariant checker: reads a finished run's directory (captures, the console's database,
read-only) and checks the invariants of issue #12 that this first cut covers.

`python -m soak check DIR` re-checks a kept run. Prints a table (invariant, checked, violations);
for each violation the seed, the fault schedule and the recorded events around it. Returns
whether every invariant held.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from console import world as core
from console.facts import CampaignEnded, CampaignStarted, TestResult
from console.store import Store, incident_row, unit_row
from inventory.load import parse_site
from soak.record import payload_bytes
from soak.site import HEARTBEAT_S, HOSTILE_PERSON, HOSTILE_UNIT
from wire.messages import (
    ContractError,
    Feedback,
    FeedbackCmd,
    IncidentState,
    Notification,
    NotifyReason,
    parse,
    parse_unit_command,
)
from wire.topics import Topics

LED_SLACK_S = 1.0  # the LED line and the console's ack time are two clocks of this machine
# Invariant 2: a notification is on time when it arrives by its due time + BASE_SLACK_S, where the
# due time is moved past every fault window it falls into (see `extended_deadline`).
BASE_SLACK_S = 2.0
# After a fault ends, how long until things flow again: a broker restart costs every client a
# reconnect (wire.link: backoff up to reconnect_max_s 5 s x 1.5 jitter) and a unit's retransmission
# of an event the broker lost (firmware: 2 s after the first send, doubling); the console's restart
# is in the window already (the fault ends when the new console is ready).
RECONNECT_S = 7.5  # wire.link: reconnect backoff up to reconnect_max_s 5 s x 1.5 jitter
RECOVERY_S = {
    "broker_kill": RECONNECT_S + 4.0,
    "broker_stop": 7.5,
    "console_kill": 1.0,
    "console_stop": 1.0,
    "sim_kill": 4.0,
    "unit_kill": 4.0,
}
UNIT_FAULTS = ("sim_kill", "unit_kill")
# Invariant 5: the console reports a silent unit offline after missed_heartbeats (3, the supervision
# default) x the soak units' heartbeat interval.
SILENCE_BOUND_S = 3 * HEARTBEAT_S


@dataclass
class Violation:
    invariant: str
    text: str
    t: float | None = None  # Unix time it is about, for the context
    keys: tuple[str, ...] = ()  # unit / incident / event ids to show context for


@dataclass
class Result:
    name: str
    title: str
    checked: int = 0
    violations: list[Violation] = field(default_factory=list)
    note: str = ""

    def fail(self, text: str, t: float | None = None, *keys: str) -> None:
        self.violations.append(Violation(self.name, text, t, tuple(k for k in keys if k)))


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"unparsable": line})
    return out


def _ts(iso: str | None) -> float | None:
    return None if iso is None else datetime.fromisoformat(iso).timestamp()


@dataclass
class Run:
    """Everything a run recorded, loaded once."""

    dir: Path
    plan: dict[str, Any]
    faults: list[dict[str, Any]]
    capture: list[dict[str, Any]]
    sim: list[dict[str, Any]]
    leads: list[dict[str, Any]]
    hostile: list[dict[str, Any]]
    presses: list[dict[str, Any]]
    summary: dict[str, Any]

    @classmethod
    def load(cls, d: Path) -> Run:
        sim: list[dict[str, Any]] = []
        for p in sorted(d.glob("sim-shard-*.jsonl")):
            sim += _jsonl(p)
        sim.sort(key=lambda r: r.get("ts", 0))
        return cls(
            d,
            json.loads((d / "plan.json").read_text(encoding="utf-8")),
            _jsonl(d / "faults.jsonl"),
            _jsonl(d / "capture.jsonl"),
            sim,
            _jsonl(d / "leads.jsonl"),
            _jsonl(d / "hostile.jsonl"),
            _jsonl(d / "presses.jsonl"),
            json.loads((d / "run.json").read_text(encoding="utf-8")) if (d / "run.json").exists() else {},
        )

    def messages(self, pred: Any = None) -> Iterator[tuple[float, str, bytes]]:
        for r in self.capture:
            if pred is None or pred(r["topic"]):
                yield r["t"], r["topic"], payload_bytes(r["payload"])


def fault_windows(run: Run, kinds: Iterable[str], target: str | None = None) -> list[tuple[float, float]]:
    """(start, end + recovery) of the applied faults of these kinds (and this target)."""
    kinds = set(kinds)
    return sorted(
        (f["start"], f["end"] + RECOVERY_S.get(f["kind"], 0.0))
        for f in run.faults
        if f["kind"] in kinds and (target is None or f["target"] == target)
    )


def extended_deadline(due: float, windows: list[tuple[float, float]], slack: float = BASE_SLACK_S) -> float:
    """`due + slack`, moved to `end + slack` of every fault window that starts before the
    deadline and ends after the due time (repeated: windows can chain)."""
    deadline = due + slack
    changed = True
    while changed:
        changed = False
        for start, end in windows:
            if start <= deadline and end > due and end + slack > deadline:
                deadline = end + slack
                changed = True
    return deadline


SYSTEM_FAULTS = ("broker_kill", "broker_stop", "console_kill", "console_stop")


def check(run: Run) -> list[Result]:
    site = parse_site((run.dir / "site.toml").read_text(encoding="utf-8"))
    T = Topics(site.site.id)
    sim_units = set(run.plan["units"])
    store = Store(run.dir / "console.db", readonly=True)
    try:
        received = {
            r["event_id"]: dict(r)
            for r in store.db.execute("SELECT event_id, unit_id, kind, at, incident_id FROM received")
        }
        incidents = {r["incident_id"]: r for r in store.incidents()}
        facts = list(store.facts())
        unit_rows = store.units()
        rejects = store.rejects()
    finally:
        store.close()

    notes: list[tuple[float, Notification]] = []
    states: dict[str, IncidentState] = {}
    feedback: list[tuple[float, str, FeedbackCmd]] = []
    replies: list[tuple[float, str, dict[str, Any]]] = []
    for t, topic, raw in run.messages():
        person = T.parse_person(topic)
        if person is not None and person[1].value == "notify":
            notes.append((t, parse(Notification, raw)))
        elif person is not None and person[1].value == "reply":
            replies.append((t, person[0], json.loads(raw)))
        elif (iid := T.parse_tail(topic, "incident")) is not None and raw:
            st = parse(IncidentState, raw)
            if iid not in states or st.version > states[iid].version:
                states[iid] = st
        else:
            unit = T.parse_unit(topic)
            if unit is not None and unit[1].value == "cmd":
                try:
                    cmd = parse_unit_command(raw)
                except ContractError:
                    continue
                if isinstance(cmd, FeedbackCmd):
                    feedback.append((t, unit[0], cmd))

    results = [
        _inv1(run, sim_units, received, incidents),
        _inv2(run, site, sim_units, received, incidents, notes),
        _inv3(notes),
        _inv4(run, sim_units, incidents, feedback),
        _inv5(run, T, sim_units),
        _inv6(site, facts, incidents, unit_rows, states),
        _inv7(run, sim_units, received, facts),
        _inv8(run, received, incidents, replies, rejects),
    ]
    return results


def _inv1(
    run: Run, sim_units: set[str], received: dict[str, dict[str, Any]], incidents: dict[str, dict[str, Any]]
) -> Result:
    r = Result("1", "every real press: exactly one incident, or joins its unit's open one (by event_id)")
    stored = {x["event_id"]: x for x in run.sim if x.get("event") == "alarm_stored"}
    receipts: dict[str, set[str | None]] = defaultdict(set)
    for x in run.sim:
        if x.get("event") == "receipt":
            receipts[x["event_id"]].add(x.get("incident_id"))
    r.checked = len(stored)
    for eid, x in stored.items():
        row = received.get(eid)
        if row is None:
            r.fail(
                f"press {eid} of {x['unit']} stored on the unit, never stored by the console (lost)",
                x["ts"],
                x["unit"],
                eid,
            )
            continue
        if row["unit_id"] != x["unit"]:
            r.fail(
                f"press {eid} of {x['unit']} stored by the console for unit {row['unit_id']}",
                x["ts"],
                x["unit"],
            )
        if row["incident_id"] is None or row["incident_id"] not in incidents:
            r.fail(
                f"press {eid} of {x['unit']} stored without an incident ({row['incident_id']})",
                x["ts"],
                x["unit"],
            )
        got = receipts.get(eid, set())
        if not got:
            r.fail(f"press {eid} of {x['unit']} never receipted to the unit", x["ts"], x["unit"], eid)
        elif got != {row["incident_id"]}:
            r.fail(
                f"press {eid} of {x['unit']}: receipts name {sorted(map(str, got))}, "
                f"the log {row['incident_id']}",
                x["ts"],
                x["unit"],
            )
    # a unit killed between its outbox write and its `alarm_stored` line resends the event after
    # the restart: its receipt line is then the unit's own word that it held the event
    for eid, row in received.items():
        if (
            row["unit_id"] in sim_units
            and row["kind"] == "alarm"
            and eid not in stored
            and eid not in receipts
        ):
            r.fail(
                f"the console stored alarm {eid} of {row['unit_id']} that no unit pressed",
                _ts(row["at"]),
                row["unit_id"],
            )
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
                    _ts(b["stored_at"]), unit, a["incident_id"], b["incident_id"],
                )  # fmt: skip
        for inc in incs:
            if inc["presses"] != presses[inc["incident_id"]]:
                r.fail(
                    f"incident {inc['incident_id']} counts {inc['presses']} presses, the log has "
                    f"{presses[inc['incident_id']]} events for it",
                    _ts(inc["stored_at"]), unit, inc["incident_id"],
                )  # fmt: skip
    return r


def _inv2(
    run: Run,
    site: Any,
    sim_units: set[str],
    received: dict[str, dict[str, Any]],
    incidents: dict[str, dict[str, Any]],
    notes: list[tuple[float, Notification]],
) -> Result:
    r = Result("2", "level 1 for every incident, each next level on time unless acknowledged, none after")
    first: dict[tuple[str, int], tuple[float, Notification]] = {}
    for t, n in notes:
        if n.incident_id is not None and n.reason in (NotifyReason.ALARM, NotifyReason.ESCALATION):
            key = (n.incident_id, n.level)
            if key not in first or t < first[key][0]:
                first[key] = (t, n)
    pressed: dict[str, float] = {}
    stored = {x["event_id"]: x["ts"] for x in run.sim if x.get("event") == "alarm_stored"}
    for eid, row in received.items():
        if row["incident_id"] is not None and eid in stored:
            pressed[row["incident_id"]] = min(pressed.get(row["incident_id"], 1e20), stored[eid])
    system = fault_windows(run, SYSTEM_FAULTS)
    teams = {room.id: room.team for room in site.rooms}
    levels = {t.id: [lv.after_s for lv in t.escalation.levels] for t in site.teams}
    worst = 0.0
    in_fault = 0
    press_to_page: list[float] = []
    for iid, inc in incidents.items():
        unit = inc["unit_id"]
        if unit not in sim_units:
            continue
        stored_at = _ts(inc["stored_at"])
        ack = _ts(inc["acknowledged_at"])
        assert stored_at is not None
        shard = next((x.get("shard") for x in run.sim if x.get("unit") == unit), None)
        unit_windows = sorted(system + fault_windows(run, UNIT_FAULTS, f"shard-{shard}"))
        for k, after_s in enumerate(levels[teams[inc["room_id"]]], start=1):
            if k == 1 and iid in pressed:  # level 1: from the press on the unit, not from the store
                due, windows = pressed[iid], unit_windows
            else:
                due, windows = stored_at + after_s, system
            deadline = extended_deadline(due, windows)
            seen = first.get((iid, k))
            if seen is not None and ack is not None and seen[1].at.timestamp() > ack:
                r.fail(f"incident {iid}: level {k} notified after its acknowledgement", seen[0], iid, unit)
            excused = ack is not None and (ack <= due or (ack <= deadline and deadline > due + BASE_SLACK_S))
            if k > 1 and seen is None and excused:
                continue  # acknowledged before it was due, or while a fault held the console: not owed
            r.checked += 1
            in_fault += deadline > due + BASE_SLACK_S
            if seen is None:
                r.fail(
                    f"incident {iid} of {unit}: level {k} never notified (due {_clock(due)})", due, iid, unit
                )
                continue
            worst = max(worst, seen[0] - due if deadline == due + BASE_SLACK_S else 0.0)
            if k == 1 and iid in pressed:
                press_to_page.append(seen[0] - due)
            if seen[0] > deadline:
                r.fail(
                    f"incident {iid} of {unit}: level {k} arrived {seen[0] - due:.1f} s after it was due "
                    f"(allowed {deadline - due:.1f} s with the faults at that time)",
                    due, iid, unit,
                )  # fmt: skip
    p = sorted(press_to_page)
    spread = f"; press -> level 1: median {p[len(p) // 2]:.3f} s, max {p[-1]:.1f} s" if p else ""
    r.note = (
        f"{in_fault} due inside a fault window; worst lateness outside them {worst:.2f} s "
        f"(allowed {BASE_SLACK_S} s){spread}"
    )
    return r


def _inv3(notes: list[tuple[float, Notification]]) -> Result:
    r = Result("3", "no level notified twice to a person for one incident (distinct notice ids)")
    ids: dict[tuple[str, str, int], dict[str, float]] = defaultdict(dict)
    copies: dict[str, int] = defaultdict(int)
    for t, n in notes:
        if n.incident_id is None or n.reason not in (NotifyReason.ALARM, NotifyReason.ESCALATION):
            continue
        ids[(n.incident_id, n.person_id, n.level)].setdefault(str(n.notification_id), t)
        copies[str(n.notification_id)] += 1
    again = sum(1 for c in copies.values() if c > 1)
    r.note = f"{again} notice(s) seen more than once under the same id (a redelivery, allowed)"
    r.checked = len(ids)
    for (iid, person, level), seen in ids.items():
        if len(seen) > 1:
            r.fail(
                f"incident {iid}: {person} paged at level {level} under {len(seen)} notice ids "
                f"{sorted(seen)}",
                min(seen.values()),
                iid,
            )
    return r


def _inv4(
    run: Run,
    sim_units: set[str],
    incidents: dict[str, dict[str, Any]],
    feedback: list[tuple[float, str, FeedbackCmd]],
) -> Result:
    r = Result("4", "every ack reaches the unit's LED; the LED never says acknowledged wrongly")
    for t, unit, cmd in feedback:
        if cmd.feedback is not Feedback.ACKNOWLEDGED:
            continue
        r.checked += 1
        inc = incidents.get(cmd.incident_id or "")
        ack = _ts(inc["acknowledged_at"]) if inc else None
        if inc is None or ack is None or inc["unit_id"] != unit:
            r.fail(
                f"unit {unit} told 'acknowledged' for incident {cmd.incident_id}, which was not acknowledged",
                t,
                unit,
            )
        elif ack > cmd.issued_at.timestamp():
            r.fail(
                f"unit {unit} told 'acknowledged' for {cmd.incident_id} before it was acknowledged", t, unit
            )
    acked_by_unit: dict[str, list[float]] = defaultdict(list)
    for inc in incidents.values():
        ack = _ts(inc["acknowledged_at"])
        if ack is not None and inc["unit_id"] in sim_units:
            acked_by_unit[inc["unit_id"]].append(ack)
    leds = [x for x in run.sim if x.get("event") == "led"]
    for x in leds:
        if x.get("pattern") != "acknowledged":
            continue
        r.checked += 1
        if not any(a <= x["ts"] + LED_SLACK_S for a in acked_by_unit.get(x["unit"], [])):
            r.fail(
                f"LED of {x['unit']} showed 'acknowledged' with no acknowledged incident of it",
                x["ts"],
                x["unit"],
            )
    told = {cmd.incident_id for _t, _u, cmd in feedback if cmd.feedback is Feedback.ACKNOWLEDGED}
    # the units stop after the drain (+ the runner's 2 s settle): an ack later than that is not owed a LED
    end = run.summary.get("phases", {}).get("drain_end", 1e20)
    for iid, inc in incidents.items():
        ack = _ts(inc["acknowledged_at"])
        if ack is None or inc["unit_id"] not in sim_units or ack > end:
            continue
        r.checked += 1
        if iid not in told:
            r.fail(
                f"incident {iid} acknowledged, no 'acknowledged' command to {inc['unit_id']} seen",
                ack,
                iid,
                inc["unit_id"],
            )
        if not any(
            x["unit"] == inc["unit_id"]
            and x.get("pattern") == "acknowledged"
            and x["ts"] >= ack - LED_SLACK_S
            for x in leds
        ):
            r.fail(
                f"incident {iid} acknowledged, the LED of {inc['unit_id']} never showed it",
                ack,
                iid,
                inc["unit_id"],
            )
    return r


def _inv5(run: Run, T: Topics, sim_units: set[str]) -> Result:
    r = Result("5", "killed units reported offline and back online; nobody offline while fine")
    end = run.summary.get("phases", {}).get("drain_end")
    if end is None:  # a run that did not finish: up to the first clean shutdown of a unit
        quits = [t for t, tp, raw in run.messages(lambda tp: tp.endswith("/status")) if b'"shutdown"' in raw]
        end = min(quits, default=1e20) - 0.001
    seen: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    for t, topic, raw in run.messages(lambda tp: "/unitstate/" in tp):
        uid = T.parse_tail(topic, "unitstate")
        if uid in sim_units and raw and t <= end:
            seen[uid].append((t, bool(json.loads(raw)["online"])))
    shard_of = {x["unit"]: x["shard"] for x in run.sim if x.get("unit") in sim_units}
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
    for f in run.faults:
        if f["kind"] not in UNIT_FAULTS:
            continue
        # Owed an offline report: by the will, when the broker was up (and the unit connected) at
        # the kill; or by the silence, when the console could hear the unit missing for longer
        # than the supervision bound. A kill inside a broker outage gets neither.
        will = not any(s0 <= f["start"] <= e0 for s0, e0 in broker)
        audible = (f["end"] - f["start"]) - _overlap(f["start"], f["end"], deaf)
        if not will and audible <= SILENCE_BOUND_S + BASE_SLACK_S:
            not_owed += 1
            continue
        for uid in sorted(u for u, s in shard_of.items() if f"shard-{s}" == f["target"]):
            r.checked += 1
            obs = seen.get(uid, [])
            if not any(not on and f["start"] <= t <= f["end"] + RECOVERY_S[f["kind"]] for t, on in obs):
                r.fail(
                    f"unit {uid} killed at {_clock(f['start'])} was never reported offline", f["start"], uid
                )
            if not any(on and t >= f["end"] - 1.0 for t, on in obs):
                r.fail(
                    f"unit {uid} restarted at {_clock(f['end'])} was never reported online again",
                    f["end"],
                    uid,
                )
    for uid in sorted(sim_units):
        obs = seen.get(uid, [])
        r.checked += 1
        if obs and not obs[-1][1]:
            r.fail(f"unit {uid} ends the run reported offline", obs[-1][0], uid)
        allowed = sorted(system + fault_windows(run, UNIT_FAULTS, f"shard-{shard_of.get(uid)}"))
        was = False  # the state before the unit first connected is "never seen", not a fault
        for t, on in obs:
            if was and not on and not any(s0 <= t <= e0 for s0, e0 in allowed):
                r.fail(f"unit {uid} reported offline at {_clock(t)} with no fault on it", t, uid)
            was = on
    if not_owed:
        r.note = f"{not_owed} kill(s) inside a broker outage, too short to be heard: no offline owed"
    return r


def _overlap(start: float, end: float, windows: list[tuple[float, float]]) -> float:
    """Seconds of [start, end] covered by the windows (which may overlap each other)."""
    covered, cursor = 0.0, start
    for s0, e0 in sorted(windows):
        s0, e0 = max(s0, cursor), min(e0, end)
        if e0 > s0:
            covered += e0 - s0
            cursor = e0
    return covered


def _inv6(
    site: Any,
    facts: list[Any],
    incidents: dict[str, dict[str, Any]],
    unit_rows: list[dict[str, Any]],
    states: dict[str, IncidentState],
) -> Result:
    r = Result("6", "rebuild from the log = the incidents and units tables and the retained incident states")
    started = datetime.now().astimezone()
    w, history = core.rebuild_with_history(site, facts, started)
    r.checked = len(history) + len(incidents)
    for iid, inc in history.items():
        row = incidents.get(iid)
        rebuilt = incident_row(inc)
        if row is None:
            r.fail(f"incident {iid} is in the log, not in the incidents table", None, iid)
        elif tuple(row.values()) != rebuilt:
            diff = [k for k, a, b in zip(row.keys(), tuple(row.values()), rebuilt, strict=False) if a != b]
            r.fail(f"incident {iid}: the table differs from the rebuild in {diff}", None, iid)
        live = states.get(iid)
        if live is None:
            r.fail(f"incident {iid}: no retained state ever seen", None, iid)
        elif live != inc.to_wire():
            a, b = live.model_dump(), inc.to_wire().model_dump()
            r.fail(
                f"incident {iid}: last retained state differs from the rebuild in "
                f"{[k for k in a if a[k] != b[k]]}",
                None,
                iid,
            )
    for iid in incidents:
        if iid not in history:
            r.fail(f"incident {iid} is in the table, not in the log", None, iid)
    rows = {u["unit_id"]: u for u in unit_rows}
    for uid in w.units.units:
        r.checked += 1
        row = rows.get(uid)
        table = None if row is None else (row["online"], row["since"], row["boot_id"], row["faults"])
        rebuilt_unit = unit_row(w.units, uid)[:4]  # the health column has heartbeat times: not in the log
        if table != rebuilt_unit:
            r.fail(f"unit {uid}: the units table says {table}, the rebuild {rebuilt_unit}", None, uid)
    return r


def _inv7(run: Run, sim_units: set[str], received: dict[str, dict[str, Any]], facts: list[Any]) -> Result:
    r = Result("7", "a test is recorded only for a test press inside an open window; the rest are alarms")
    alarms = {x["event_id"] for x in run.sim if x.get("event") == "alarm_stored"}
    tests = {x["event_id"]: x for x in run.sim if x.get("event") == "test_stored"}
    started = {f.campaign_id: f for f in facts if isinstance(f, CampaignStarted)}
    ended = {f.campaign_id: f for f in facts if isinstance(f, CampaignEnded)}
    results = [f for f in facts if isinstance(f, TestResult) and f.unit_id in sim_units]
    recorded = {str(f.event_id) for f in results}
    last: dict[tuple[str, str], datetime] = {}
    per_window: set[tuple[str | None, str, str]] = set()
    for f in results:
        r.checked += 1
        eid, t = str(f.event_id), f.at.timestamp()
        if eid in alarms:
            r.fail(f"real press {eid} of {f.unit_id} recorded as a test", t, f.unit_id, eid)
        elif eid not in tests:
            r.fail(f"test result {eid} of {f.unit_id} for no test press of the unit", t, f.unit_id, eid)
        windows = [
            c for c in started.values()
            if f.unit_id in c.unit_ids
            and c.at <= f.at <= min(c.until, ended[c.campaign_id].at if c.campaign_id in ended else c.until)
        ]  # fmt: skip
        if not windows:
            r.fail(
                f"test press {eid} of {f.unit_id} recorded as a test with no window open", t, f.unit_id, eid
            )
        key = (f.unit_id, f.button_id)
        if key in last and (f.pressed_at - last[key]).total_seconds() < 60:
            r.fail(
                f"test press {eid} of {f.unit_id} recorded as a test within 60 s of the last one",
                t,
                f.unit_id,
            )
        last[key] = f.pressed_at
        wkey = (f.campaign_id, f.unit_id, f.button_id)
        if wkey in per_window:
            r.fail(
                f"button {f.unit_id}/{f.button_id} recorded as tested twice in window {f.campaign_id}",
                t,
                f.unit_id,
            )
        per_window.add(wkey)
    for eid, x in tests.items():
        r.checked += 1
        row = received.get(eid)
        if row is None:
            r.fail(
                f"test press {eid} of {x['unit']} never stored by the console (lost)", x["ts"], x["unit"], eid
            )
        elif eid not in recorded and row["incident_id"] is None:
            r.fail(
                f"test press {eid} of {x['unit']} neither a test result nor an alarm", x["ts"], x["unit"], eid
            )
    if not tests:
        r.note = "no test press in this run"
    else:
        as_alarm = sum(1 for e in tests if e not in recorded)
        r.note = f"{len(tests)} test presses: {len(tests) - as_alarm} recorded as tests, {as_alarm} as alarms"
    return r


def _inv8(
    run: Run,
    received: dict[str, dict[str, Any]],
    incidents: dict[str, dict[str, Any]],
    replies: list[tuple[float, str, dict[str, Any]]],
    rejects: dict[str, int],
) -> Result:
    r = Result("8", "nothing unauthorised took effect (hostile client)")
    spoofed = {e for h in run.hostile for e in h.get("event_ids", [])}
    cmds = {c for h in run.hostile for c in h.get("cmd_ids", [])}
    r.checked = len(spoofed) + len(cmds) + len(incidents)
    for eid in spoofed:
        if eid in received:
            r.fail(
                f"spoofed event {eid} was stored as {received[eid]['unit_id']} / "
                f"{received[eid]['incident_id']}",
                None,
                eid,
            )
    for t, person, rep in replies:
        if rep.get("cmd_id") in cmds and rep.get("ok"):
            r.fail(f"hostile command {rep['cmd_id']} was accepted ({person})", t)
    sent = {(x["kind"], x["person"], x["incident_id"]) for x in run.leads}
    for iid, inc in incidents.items():
        if inc["unit_id"] == HOSTILE_UNIT:
            r.fail(f"incident {iid} opened for the hostile login {HOSTILE_UNIT}", _ts(inc["stored_at"]), iid)
        for kind, col in (("ack", "acknowledged_by"), ("resolve", "resolved_by")):
            who = inc[col]
            if who is not None and (who == HOSTILE_PERSON or (kind, who, iid) not in sent):
                r.fail(
                    f"incident {iid}: {col} {who}, who never sent that command", _ts(inc["stored_at"]), iid
                )
    malformed = sum(h.get("n", 0) for h in run.hostile if h.get("action") == "malformed")
    counted = sum(rejects.values())
    if malformed:
        r.checked += 1
        if counted < malformed:
            r.fail(f"{malformed} malformed payloads sent, only {counted} counted as refused ({rejects})")
    r.note = f"refused and counted: {rejects}" if run.hostile else "no hostile action in this run"
    return r


# --------------------------------------------------------------------------- report


def _context(run: Run, v: Violation, n: int = 12) -> list[str]:
    if v.t is None and not v.keys:
        return []
    rows: list[tuple[float, str]] = []
    for x in run.sim:
        if x.get("unit") in v.keys or x.get("event_id") in v.keys or x.get("incident_id") in v.keys:
            rows.append(
                (
                    x["ts"],
                    f"sim[{x.get('shard')}.{x.get('gen')}] {x.get('unit')} {x.get('event')} "
                    + " ".join(
                        f"{k}={x[k]}" for k in ("event_id", "incident_id", "pattern", "state") if k in x
                    ),
                )
            )
    for c in run.capture:
        if any(k in c["topic"] or k in c["payload"] for k in v.keys) and "/heartbeat" not in c["topic"]:
            rows.append((c["t"], f"wire {c['topic'].split('/', 3)[-1]} {c['payload'][:160]}"))
    for f in run.faults:
        rows.append((f["start"], f"FAULT {f['kind']} {f['target']} until +{f['end'] - f['start']:.1f} s"))
    for x in run.leads:
        if x["incident_id"] in v.keys:
            rows.append((x["t"], f"lead {x['person']} sends {x['kind']} {x['incident_id']}"))
    rows.sort()
    if v.t is not None:
        before = [row for row in rows if row[0] <= v.t][-n // 2 :]
        after = [row for row in rows if row[0] > v.t][: n - len(before)]
        rows = before + after
    else:
        rows = rows[:n]
    return [f"    {_clock(t)} {s}" for t, s in rows]


def _clock(t: float) -> str:
    return datetime.fromtimestamp(t).strftime("%H:%M:%S.%f")[:-3]


def report(run: Run, results: Iterable[Result]) -> bool:
    results = list(results)
    print(f"\ninvariants of soak seed {run.plan['seed']} ({run.dir}):")
    print(f"  {'inv':<4} {'checked':>8} {'violations':>10}  what")
    for res in results:
        extra = f"  ({res.note})" if res.note else ""
        print(f"  {res.name:<4} {res.checked:>8} {len(res.violations):>10}  {res.title}{extra}")
    bad = [v for res in results for v in res.violations]
    if not bad:
        return True
    print(f"\nFAILED: {len(bad)} violation(s); seed {run.plan['seed']}, fault schedule as applied:")
    for f in run.faults:
        print(
            f"  {f['kind']:<18} {f['target']:<8} planned t+{f['planned_at']:.1f} s, applied "
            f"{_clock(f['start'])} for {f['end'] - f['start']:.1f} s {f['note']}"
        )
    for v in bad[:20]:
        print(f"\n  [{v.invariant}] {v.text}")
        for line in _context(run, v):
            print(line)
    if len(bad) > 20:
        print(f"\n  ... and {len(bad) - 20} more")
    return False


def check_run(d: Path) -> bool:
    run = Run.load(d)
    return report(run, check(run))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m soak check RUN_DIR", file=sys.stderr)
        return 2
    return 0 if check_run(Path(argv[0])) else 1
