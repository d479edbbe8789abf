"""The invariant checker: reads a finished run's directory (captures, the console's database,
read-only) and checks the eight invariants of issue #12.

`python -m soak check DIR` re-checks a kept run. Prints a table (invariant, checked, violations);
for each violation the seed, the fault schedule and the recorded events around it. Returns
whether every invariant held.

The observer's capture (`capture.jsonl`, a million lines and more in a long run) is streamed:
one pass keeps only what the checks need (notifications, incident states, LED commands,
replies, unit states), and one more pass, only when something failed, collects the context.
Every allowance for a fault is derived from the applied fault windows (`faults.jsonl`) and named
below with why it is that size.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from console.config import SupervisionPolicy
from console.core import world as core
from console.core.engine import TEST_REPEAT_GUARD
from console.facts import (
    AlarmReceived,
    CampaignEnded,
    CampaignStarted,
    ConsoleLinked,
    Fact,
    LevelSkipped,
    Notified,
    PresenceChanged,
    PressRepeated,
    TestResult,
)
from console.store import Store, incident_row, unit_row
from firmware.ports import Settings
from inventory.load import parse_site
from inventory.model import Site
from soak.record import payload_bytes
from soak.site import HEARTBEAT_S, HOSTILE_PERSON, HOSTILE_UNIT
from wire.messages import IncidentState, NotifyReason, parse
from wire.topics import Topics

# --------------------------------------------------------------------------- allowances

LED_SLACK_S = 1.0  # the LED line and the console's ack time are two clocks of this machine
# Invariant 2: a notification is on time when it arrives by its due time + BASE_SLACK_S, where the
# due time is moved past every fault window it falls into (see `extended_deadline`). 2 s: the worst
# lateness outside fault windows was 0.05-0.12 s on the shared 2-core machine.
BASE_SLACK_S = 2.0
# wire.link: a client reconnects with backoff up to reconnect_max_s 5 s x 1.5 jitter.
RECONNECT_S = 7.5
# paho's connect timeout (5 s): a connect attempt begun while a unit's link was still down runs
# out before the next attempt, which then waits for the reconnect backoff.
CONNECT_TIMEOUT_S = 5.0
# After a network cut or flap of the solo unit ends, its press (waiting in the outbox, sent at
# once on link up) flows when the unit has a connection again: a connect attempt that started
# while the link was down times out, then the reconnect backoff.
NET_RECOVERY_S = CONNECT_TIMEOUT_S + RECONNECT_S
# After a fault ends, how long until things flow again: a broker restart costs every client a
# reconnect and a unit's retransmission of an event the broker lost (firmware: 2 s after the
# first send, doubling); the console's restart is in the window already (the fault ends when the
# new console is ready); a unit's restart too (the fault ends when its link is up again; it sends
# every unreceipted event on link up).
RECOVERY_S = {
    "broker_kill": RECONNECT_S + 4.0,
    "broker_stop": 7.5,
    "console_kill": 1.0,
    "console_stop": 1.0,
    "sim_kill": 4.0,
    "unit_kill": 4.0,
    "unit_crash_store": 4.0,
    "unit_crash_receipt": 4.0,
    "net_cut": NET_RECOVERY_S,
    "net_flap": NET_RECOVERY_S,
}
# Invariant 1: a kill (SIGKILL 30-110 ms after the press) can land between the unit recording the
# console's receipt in its outbox and printing the receipt line; the receipt on the wire and the
# kill this close together, with no resend afterwards, show the unit had recorded it.
KILL_LINE_S = 0.5
SYSTEM_FAULTS = ("broker_kill", "broker_stop", "console_kill", "console_stop")
# A unit's process dies (SIGKILL): the broker sends its will at once.
KILLS = ("sim_kill", "unit_kill", "unit_crash_store", "unit_crash_receipt")
# A unit's network goes silent (no FIN): only the console's heartbeat bound can notice.
CUTS = ("net_cut", "net_flap")
# Faults of one unit's shard: only its own presses wait (level 1) and only it may be offline.
UNIT_FAULTS = KILLS + CUTS
# The console's database filesystem is full (`disk_full`). console/service.py degraded mode: the
# console keeps stepping and paging from memory ("niet opgeslagen"), so levels and repeats are NOT
# late and need no allowance; receipts are withheld (units retransmit) until the store works again.
# Only a console restart while the disk is full loses what was held (a restart starts from the
# log): its incidents, pages and acknowledgements are gone, the held presses come back as the
# units' retransmissions, at most retransmit_max_s after the restart.
RETRANSMIT_MAX_S = Settings().retransmit_max_s
# Invariant 5: the console reports a silent unit offline after missed_heartbeats (3, the supervision
# default) x the soak units' heartbeat interval, counted from its last heartbeat. A stall or a deaf
# spell of the console (SIGSTOP, no broker) moves that baseline on by the gap (supervision
# re-baselining), so the bound is extended by the console's outages.
SILENCE_BOUND_S = SupervisionPolicy().missed_heartbeats * HEARTBEAT_S
# Invariant 7: the engine's guard between two tests of one button (by either clock).
TEST_GUARD_S = TEST_REPEAT_GUARD.total_seconds()
# A repeat of the last level comes repeat_every_s after the previous one, by the console's clock
# (Notification.at); earlier than this much before is a bug (a duplicated timer).
EARLY_REPEAT_S = 0.05

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_PAGES = (NotifyReason.ALARM.value, NotifyReason.ESCALATION.value)
_ALL_PAGES = (*_PAGES, NotifyReason.REPEAT.value)


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

    def fail(self, text: str, t: float | None = None, *keys: str | None) -> None:
        self.violations.append(Violation(self.name, text, t, tuple(k for k in keys if k)))


def _iter_jsonl(path: Path, skip: str | None = None) -> Iterator[dict[str, Any]]:
    """The JSON lines of a file, one at a time; lines containing `skip` are not even parsed."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if skip is not None and skip in line:
                continue
            if line.strip():
                try:
                    yield json.loads(line)
                except ValueError:
                    yield {"unparsable": line}


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return list(_iter_jsonl(path))


def _ts(iso: str | None) -> float | None:
    return None if iso is None else datetime.fromisoformat(iso).timestamp()


@dataclass
class Run:
    """Everything a run recorded, loaded once, except the capture (streamed: `capture()`).

    Each line of the simulator gets `t`: its own `ts`, or `rx` (when the soak read it, this
    machine's clock) for a shard whose clock was stepped (`clock_step`)."""

    dir: Path
    plan: dict[str, Any]
    faults: list[dict[str, Any]]
    sim: list[dict[str, Any]]
    leads: list[dict[str, Any]]
    hostile: list[dict[str, Any]]
    presses: list[dict[str, Any]]
    summary: dict[str, Any]

    @classmethod
    def load(cls, d: Path) -> Run:
        faults = [f for f in _jsonl(d / "faults.jsonl") if "kind" in f]
        stepped = {f["target"] for f in faults if f["kind"] == "clock_step"}
        sim: list[dict[str, Any]] = []
        for p in sorted(d.glob("sim-shard-*.jsonl")):
            for x in _iter_jsonl(p):
                own = x.get("ts", 0.0)
                x["t"] = x.get("rx", own) if f"shard-{x.get('shard')}" in stepped else own
                sim.append(x)
        sim.sort(key=lambda r: r["t"])
        return cls(
            d,
            json.loads((d / "plan.json").read_text(encoding="utf-8")),
            faults,
            sim,
            _jsonl(d / "leads.jsonl"),
            _jsonl(d / "hostile.jsonl"),
            _jsonl(d / "presses.jsonl"),
            json.loads((d / "run.json").read_text(encoding="utf-8")) if (d / "run.json").exists() else {},
        )

    def capture(self) -> Iterator[dict[str, Any]]:
        """The observer's capture, one message at a time (never all in memory), without the
        units' heartbeats (most of it; no check reads them)."""
        return _iter_jsonl(self.dir / "capture.jsonl", skip='/heartbeat",')


def fault_windows(run: Run, kinds: Iterable[str], target: str | None = None) -> list[tuple[float, float]]:
    """(start, end + recovery) of the applied faults of these kinds (and this target)."""
    kinds = set(kinds)
    return sorted(
        (f["start"], f["end"] + RECOVERY_S.get(f["kind"], 0.0))
        for f in run.faults
        if f["kind"] in kinds and (target is None or f["target"] == target)
    )


def lost_windows(run: Run) -> list[tuple[float, float]]:
    """(disk full start, console ready again) for every console restart while the disk was full:
    what the console held in memory then (incidents, pages, acknowledgements) is gone."""
    out = []
    for df in run.faults:
        if df["kind"] != "disk_full":
            continue
        for ck in run.faults:
            if ck["kind"] == "console_kill" and df["start"] <= ck["start"] <= df["end"]:
                out.append((df["start"], ck["end"]))
    return sorted(out)


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


def _inside(t: float, windows: Iterable[tuple[float, float]]) -> bool:
    return any(s0 <= t <= e0 for s0, e0 in windows)


# --------------------------------------------------------------------------- what the wire said


@dataclass(frozen=True)
class Note:
    """One notification (alarm, escalation or repeat of an incident) as the observer saw it."""

    t: float  # when the observer got it
    at: float  # the console's time of the page (Notification.at)
    incident_id: str
    person_id: str
    level: int
    reason: str
    notification_id: str


@dataclass
class Wire:
    """What one pass over the capture keeps."""

    notes: list[Note] = field(default_factory=list)
    states: dict[str, IncidentState] = field(default_factory=dict)
    acked_cmds: list[tuple[float, str, str | None, float]] = field(default_factory=list)
    """FeedbackCmd(acknowledged): (t, unit, incident id, issued_at)."""
    replies: list[tuple[float, str, str, bool]] = field(default_factory=list)
    """(t, person, cmd id, ok) of the replies to the hostile client's commands."""
    unitstate: dict[str, list[tuple[float, bool]]] = field(default_factory=dict)
    quits: list[float] = field(default_factory=list)
    """When a unit said it shuts down (status `shutdown`)."""
    receipts: dict[str, list[tuple[float, str | None]]] = field(default_factory=dict)
    """event id -> (t, incident id) of every Receipt the console sent to a unit."""
    last_t: float = 0.0
    messages: int = 0


def scan_capture(run: Run, T: Topics, sim_units: set[str]) -> Wire:
    """One pass over the capture. Heartbeats (most of it) are skipped before parsing."""
    w = Wire()
    hostile_cmds = {c for h in run.hostile for c in h.get("cmd_ids", [])}
    starts = [run.summary.get("started", 0.0)] + [f["end"] for f in run.faults if f["kind"] == "console_kill"]
    last_start = max(starts)
    best: dict[str, tuple[int, str]] = {}  # incident -> (version, payload), newest of any console
    best_last: dict[str, tuple[int, str]] = {}  # the same, published by the last console process
    base = T.base + "/"
    for rec in run.capture():
        if "topic" not in rec:
            continue
        w.messages += 1
        t, topic, text = rec["t"], rec["topic"], rec["payload"]
        w.last_t = max(w.last_t, t)
        if not topic.startswith(base):
            continue
        parts = topic[len(base) :].split("/")
        head = parts[0]
        if head == "unit" and len(parts) == 3:
            uid, ch = parts[1], parts[2]
            if ch == "cmd" and '"acknowledged"' in text:
                cmd = json.loads(payload_bytes(text))
                if cmd.get("feedback") == "acknowledged":
                    w.acked_cmds.append((t, uid, cmd.get("incident_id"), _ts(cmd["issued_at"]) or 0.0))
            elif ch == "status" and '"shutdown"' in text:
                w.quits.append(t)
            elif ch == "receipt" and text:
                rc = json.loads(payload_bytes(text))
                w.receipts.setdefault(str(rc.get("event_id")), []).append((t, rc.get("incident_id")))
        elif head == "person" and len(parts) == 3:
            if parts[2] == "notify":
                n = json.loads(payload_bytes(text))
                if n.get("incident_id") is not None and n.get("reason") in _ALL_PAGES:
                    w.notes.append(
                        Note(t, _ts(n["at"]) or 0.0, n["incident_id"], n["person_id"], int(n.get("level", 0)),
                             n["reason"], n["notification_id"])
                    )  # fmt: skip
            elif parts[2] == "reply" and hostile_cmds:
                rep = json.loads(payload_bytes(text))
                if rep.get("cmd_id") in hostile_cmds:
                    w.replies.append((t, parts[1], rep["cmd_id"], bool(rep.get("ok"))))
        elif head == "incident" and len(parts) == 2 and text:
            version = int(json.loads(text).get("version", 0))
            for into, ok in ((best, True), (best_last, t >= last_start)):
                if ok and (parts[1] not in into or version > into[parts[1]][0]):
                    into[parts[1]] = (version, text)
        elif head == "unitstate" and len(parts) == 2 and text and parts[1] in sim_units:
            w.unitstate.setdefault(parts[1], []).append((t, bool(json.loads(text)["online"])))
    # A console restarted while the disk was full lost what it held, and republished every incident
    # from its log: the truth is what the last console process published (versions may go back).
    for iid, (_v, text) in {**best, **best_last}.items():
        w.states[iid] = parse(IncidentState, text.encode("utf-8"))
    return w


# --------------------------------------------------------------------------- the checks


@dataclass
class Db:
    received: dict[str, dict[str, Any]]
    incidents: dict[str, dict[str, Any]]
    facts: list[Fact]
    unit_rows: list[dict[str, Any]]
    rejects: dict[str, int]

    @classmethod
    def load(cls, path: Path) -> Db:
        store = Store(path, readonly=True)
        try:
            received = {
                r["event_id"]: dict(r)
                for r in store.db.execute(
                    "SELECT event_id, unit_id, kind, at, incident_id, payload FROM received"
                )
            }
            return cls(received, {r["incident_id"]: r for r in store.incidents()}, list(store.facts()),
                       store.units(), store.rejects())  # fmt: skip
        finally:
            store.close()


def check(run: Run) -> list[Result]:
    site = parse_site((run.dir / "site.toml").read_text(encoding="utf-8"))
    T = Topics(site.site.id)
    sim_units = set(run.plan["units"])
    db = Db.load(run.dir / "console.db")
    wire = scan_capture(run, T, sim_units)
    shard_of = {x["unit"]: x["shard"] for x in run.sim if x.get("unit") in sim_units and "shard" in x}
    return [
        _inv1(run, sim_units, db, wire),
        _inv2(run, site, sim_units, shard_of, db, wire),
        _inv3(run, wire),
        _inv4(run, sim_units, db, wire),
        _inv5(run, sim_units, shard_of, wire),
        _inv6(run, site, db, wire),
        _inv7(run, site, sim_units, db),
        _inv8(run, db, wire),
    ]


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


def _inv1(run: Run, sim_units: set[str], db: Db, wire: Wire | None = None) -> Result:
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
                   _ts(row["at"]), row["unit_id"])  # fmt: skip
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
    if lost_lines:
        r.note = f"{lost_lines} receipt line(s) lost with a kill (receipt on the wire, not resent after)"
    return r


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
                    r.fail(
                        f"{f.person_id} was absent {_clock(s0)}-{_clock(at)} with no lead_absent fault", s0
                    )
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
            if f.reason.value not in _ALL_PAGES:
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


def _inv2(run: Run, site: Site, sim_units: set[str], shard_of: dict[str, int], db: Db, wire: Wire) -> Result:
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
        if n.reason in _PAGES:
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
        stored_at = _ts(inc["stored_at"])
        ack = _ts(inc["acknowledged_at"])
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
                    f"incident {iid} of {unit}: level {k} never notified (due {_clock(due)})", due, iid, unit
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
                r.fail(f"incident {iid}: repeat at {_clock(n.at)} after its acknowledgement", n.t, iid, unit)
            due = n.at + pol.repeat_every_s
            deadline = extended_deadline(due, system)
            nxt = chain[i + 1] if i + 1 < len(chain) else None
            if nxt is None and ((ack is not None and ack <= deadline) or deadline > end):
                continue  # acknowledged in time (or the run ended): no more repeats owed
            r.checked += 1
            repeats += 1
            if nxt is None:
                r.fail(f"incident {iid} of {unit}: no repeat after {_clock(n.at)} (due {_clock(due)})",
                       due, iid, unit)  # fmt: skip
                continue
            if nxt.t > deadline:
                r.fail(
                    f"incident {iid} of {unit}: repeat arrived {nxt.t - due:.1f} s after it was due "
                    f"(allowed {deadline - due:.1f} s with the faults at that time)",
                    due, iid, unit,
                )  # fmt: skip
            if nxt.at < due - EARLY_REPEAT_S and not _inside(n.at, lost):
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


def _inv3(run: Run, wire: Wire) -> Result:
    r = Result("3", "no level notified twice to a person for one incident (distinct notice ids)")
    ids: dict[tuple[str, str, int], dict[str, Note]] = defaultdict(dict)
    copies: dict[str, int] = defaultdict(int)
    for n in wire.notes:
        if n.reason not in _PAGES:
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
            # the log: the restarted console pages that level again (console/service.py)
            held = sorted(seen.values(), key=lambda n: n.at)[:-1]
            if all(_inside(n.at, lost) for n in held):
                excused += 1
                continue
            r.fail(f"incident {iid}: {person} paged at level {level} under {len(seen)} notice ids "
                   f"{sorted(seen)}",
                   min(n.t for n in seen.values()), iid)  # fmt: skip
    r.note = f"{again} notice(s) seen more than once under the same id (a redelivery, allowed)"
    if excused:
        r.note += f"; {excused} paged again after a restart with the disk full (held page lost)"
    return r


def _inv4(run: Run, sim_units: set[str], db: Db, wire: Wire) -> Result:
    r = Result("4", "every ack reaches the unit's LED; the LED never says acknowledged wrongly")
    incidents = db.incidents
    lost = lost_windows(run)
    for t, unit, iid, issued in wire.acked_cmds:
        r.checked += 1
        inc = incidents.get(iid or "")
        ack = _ts(inc["acknowledged_at"]) if inc else None
        if inc is None or ack is None or inc["unit_id"] != unit:
            if _inside(issued, lost):
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
        ack = _ts(inc["acknowledged_at"])
        if ack is not None and inc["unit_id"] in sim_units:
            acked_by_unit[inc["unit_id"]].append(ack)
    leds: dict[str, list[float]] = defaultdict(list)  # unit -> times of `led acknowledged`, sorted
    for x in run.sim:
        if x.get("event") == "led" and x.get("pattern") == "acknowledged":
            leds[x["unit"]].append(x["t"])
            r.checked += 1
            if not any(a <= x["t"] + LED_SLACK_S for a in acked_by_unit.get(x["unit"], [])) and not _inside(
                x["t"], [(s0, e0 + LED_SLACK_S) for s0, e0 in lost]
            ):
                r.fail(f"LED of {x['unit']} showed 'acknowledged' with no acknowledged incident of it",
                       x["t"], x["unit"])  # fmt: skip
    told = {iid for _t, _u, iid, _i in wire.acked_cmds}
    # the units stop after the drain (+ the runner's 2 s settle): an ack later than that is not owed a LED
    end = run.summary.get("phases", {}).get("drain_end", 1e20)
    for iid, inc in incidents.items():
        ack = _ts(inc["acknowledged_at"])
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


def _inv5(run: Run, sim_units: set[str], shard_of: dict[str, int], wire: Wire) -> Result:
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
            audible = (f["end"] - f["start"]) - _overlap(f["start"], f["end"], deaf)
            if not will and audible <= SILENCE_BOUND_S + BASE_SLACK_S:
                not_owed += 1
                continue
            for uid in units:
                r.checked += 1
                obs = seen.get(uid, [])
                before = [on for t, on in obs if t < f["start"]]
                if before and not before[-1]:
                    continue  # already reported offline (a cut just before the kill): nothing new owed
                if not any(not on and f["start"] <= t <= f["end"] + RECOVERY_S[f["kind"]] for t, on in obs):
                    r.fail(
                        f"unit {uid} killed at {_clock(f['start'])} was never reported offline",
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
                audible = (d1 - d0) - _overlap(d0, d1, deaf)
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
                        r.fail(f"unit {uid} cut off at {_clock(d0)} was not reported offline within "
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
                r.fail(f"unit {uid} back at {_clock(f['end'])} ({f['kind']}) was never reported online again",
                       f["end"], uid)  # fmt: skip
    for uid in sorted(sim_units):
        obs = seen.get(uid, [])
        r.checked += 1
        if obs and not obs[-1][1]:
            r.fail(f"unit {uid} ends the run reported offline", obs[-1][0], uid)
        allowed = sorted(system + fault_windows(run, UNIT_FAULTS, f"shard-{shard_of.get(uid)}"))
        was = False  # the state before the unit first connected is "never seen", not a fault
        for t, on in obs:
            if was and not on and not _inside(t, allowed):
                r.fail(f"unit {uid} reported offline at {_clock(t)} with no fault on it", t, uid)
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


def _overlap(start: float, end: float, windows: list[tuple[float, float]]) -> float:
    """Seconds of [start, end] covered by the windows (which may overlap each other)."""
    covered, cursor = 0.0, start
    for s0, e0 in sorted(windows):
        s0, e0 = max(s0, cursor), min(e0, end)
        if e0 > s0:
            covered += e0 - s0
            cursor = e0
    return covered


def _inv6(run: Run, site: Site, db: Db, wire: Wire) -> Result:
    r = Result("6", "rebuild from the log = the incidents and units tables and the retained incident states")
    incidents = db.incidents
    started = datetime.now().astimezone()
    w, history = core.rebuild_with_history(site, db.facts, started)
    r.checked = len(history) + len(incidents)
    for iid, inc in history.items():
        row = incidents.get(iid)
        rebuilt = incident_row(inc)
        if row is None:
            r.fail(f"incident {iid} is in the log, not in the incidents table", None, iid)
        elif tuple(row.values()) != rebuilt:
            diff = [k for k, a, b in zip(row.keys(), tuple(row.values()), rebuilt, strict=False) if a != b]
            r.fail(f"incident {iid}: the table differs from the rebuild in {diff}", None, iid)
        live = wire.states.get(iid)
        if live is None:
            r.fail(f"incident {iid}: no retained state ever seen", None, iid)
        elif live != inc.to_wire():
            a, b = live.model_dump(), inc.to_wire().model_dump()
            diff = [k for k in a if a[k] != b[k]]
            r.fail(f"incident {iid}: last retained state differs from the rebuild in {diff}",
                   None, iid)  # fmt: skip
    for iid in incidents:
        if iid not in history:
            r.fail(f"incident {iid} is in the table, not in the log", None, iid)
    rows = {u["unit_id"]: u for u in db.unit_rows}
    for uid in w.units.units:
        r.checked += 1
        row = rows.get(uid)
        table = None if row is None else (row["online"], row["since"], row["boot_id"], row["faults"])
        rebuilt_unit = unit_row(w.units, uid)[:4]  # the health column has heartbeat times: not in the log
        if table != rebuilt_unit:
            r.fail(f"unit {uid}: the units table says {table}, the rebuild {rebuilt_unit}", None, uid)
    return r


def _inv7(run: Run, site: Site, sim_units: set[str], db: Db) -> Result:
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
        return _ts(json.loads(bytes(row["payload"])).get("occurred_at"))

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


def _inv8(run: Run, db: Db, wire: Wire) -> Result:
    r = Result("8", "nothing unauthorised took effect (hostile client)")
    received, incidents = db.received, db.incidents
    spoofed = {e for h in run.hostile for e in h.get("event_ids", [])}
    cmds = {c for h in run.hostile for c in h.get("cmd_ids", [])}
    r.checked = len(spoofed) + len(cmds) + len(incidents)
    for eid in spoofed:
        if eid in received:
            row = received[eid]
            r.fail(f"spoofed event {eid} was stored as {row['unit_id']} / {row['incident_id']}",
                   None, eid)  # fmt: skip
    for t, person, cmd_id, ok in wire.replies:
        if ok:
            r.fail(f"hostile command {cmd_id} was accepted ({person})", t)
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
    counted = sum(db.rejects.values())
    if malformed:
        r.checked += 1
        if counted < malformed:
            r.fail(f"{malformed} malformed payloads sent, only {counted} counted as refused ({db.rejects})")
    r.note = f"refused and counted: {db.rejects}" if run.hostile else "no hostile action in this run"
    return r


# --------------------------------------------------------------------------- report


def _contexts(run: Run, vs: list[Violation], n: int = 12) -> list[list[str]]:
    """The recorded events around each violation (one pass over the capture for all of them)."""
    rows: list[list[tuple[float, str]]] = [[] for _ in vs]
    for x in run.sim:
        for i, v in enumerate(vs):
            if x.get("unit") in v.keys or x.get("event_id") in v.keys or x.get("incident_id") in v.keys:
                ids = " ".join(
                    f"{k}={x[k]}" for k in ("event_id", "incident_id", "pattern", "state") if k in x
                )
                head = f"sim[{x.get('shard')}.{x.get('gen')}] {x.get('unit')} {x.get('event')}"
                rows[i].append((x["t"], f"{head} {ids}"))
    keyed = [(i, v.keys) for i, v in enumerate(vs) if v.keys]
    if keyed:
        for c in run.capture():
            if "topic" not in c:
                continue
            for i, keys in keyed:
                if any(k in c["topic"] or k in c["payload"] for k in keys):
                    rows[i].append((c["t"], f"wire {c['topic'].split('/', 3)[-1]} {c['payload'][:160]}"))
    out: list[list[str]] = []
    for i, v in enumerate(vs):
        if v.t is None and not v.keys:
            out.append([])
            continue
        mine = rows[i]
        for f in run.faults:
            mine.append((f["start"], f"FAULT {f['kind']} {f['target']} until +{f['end'] - f['start']:.1f} s"))
        for x in run.leads:
            if x.get("incident_id") in v.keys:
                mine.append((x["t"], f"lead {x['person']} sends {x['kind']} {x['incident_id']}"))
        mine.sort()
        if v.t is not None:
            before = [row for row in mine if row[0] <= v.t][-n // 2 :]
            after = [row for row in mine if row[0] > v.t][: n - len(before)]
            mine = before + after
        else:
            mine = mine[:n]
        out.append([f"    {_clock(t)} {s}" for t, s in mine])
    return out


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
        extra = " ".join(f"{k}={f[k]}" for k in ("person", "offset_s") if k in f)
        if "downs" in f:
            extra += f" downs={len(f['downs'])}"
        print(
            f"  {f['kind']:<18} {f['target']:<12} planned t+{f['planned_at']:.1f} s, applied "
            f"{_clock(f['start'])} for {f['end'] - f['start']:.1f} s {f.get('note', '')} {extra}".rstrip()
        )
    shown = bad[:20]
    for v, lines in zip(shown, _contexts(run, shown), strict=True):
        print(f"\n  [{v.invariant}] {v.text}")
        for line in lines:
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
