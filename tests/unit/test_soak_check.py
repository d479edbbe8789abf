"""The soak's invariant checker (soak/check/) catches what it claims to catch.

A small run directory is made by the real console cores (engine + supervision), the real store
and the real notification rendering, driven in simulated time: what the soak would have kept if
everything went right. The untampered run passes every invariant (each with checks made); each
test then plants one violation (a lost press, a late level, a page twice, a false LED...) and
the checker must report it under the right invariant.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from soak import check
from soak.site import HOSTILE_UNIT, SOLO_UNIT, soak_site_toml, unit_ids
from stilalarm.console.core import world as core
from stilalarm.console.core.effects import (
    Notify,
    PublishHealth,
    PublishIncident,
    Record,
    Reply,
    SendReceipt,
    UnitFeedback,
)
from stilalarm.console.core.engine import PersonCmdIn, UnitEventIn
from stilalarm.console.core.supervision import HeartbeatIn, StatusIn
from stilalarm.console.delivery.render import render
from stilalarm.console.store import Batch, Store, unit_row
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import (
    AckCmd,
    CommandReply,
    EventKind,
    FeedbackCmd,
    Heartbeat,
    LinkState,
    PresenceCmd,
    Receipt,
    Registration,
    ResolveCmd,
    UnitEvent,
    UnitStatus,
    encode,
)
from stilalarm.wire.messages import (
    TestScope as Scope,
)
from stilalarm.wire.messages import (
    TestStartCmd as WindowCmd,
)
from stilalarm.wire.topics import Topics

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LATENCY_S = 0.005  # console -> observer / unit, in the made-up run
END_S = 60.0  # the end of the drain


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def unix(s: float) -> float:
    return at(s).timestamp()


@dataclass
class FakeRun:
    """A run directory written by the real console cores, fed in simulated time."""

    d: Path
    n_units: int = 4
    capture: list[dict[str, Any]] = field(default_factory=list)
    sim: list[dict[str, Any]] = field(default_factory=list)
    leads: list[dict[str, Any]] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    hostile: list[dict[str, Any]] = field(default_factory=list)
    silent: dict[str, tuple[float, float]] = field(default_factory=dict)  # unit -> no heartbeats then
    held: dict[str, UnitEvent] = field(default_factory=dict)  # stored on the unit, not delivered yet

    def __post_init__(self) -> None:
        self.d.mkdir(parents=True, exist_ok=True)
        (self.d / "site.toml").write_text(soak_site_toml(self.n_units), encoding="utf-8")
        self.site = parse_site((self.d / "site.toml").read_text(encoding="utf-8"))
        self.T = Topics(self.site.site.id)
        self.units = [*unit_ids(self.n_units), SOLO_UNIT]
        self.shard = {u: (2 if u == SOLO_UNIT else i % 2) for i, u in enumerate(self.units)}
        self.store = Store(self.d / "console.db", init=True)
        self.world = core.World.initial(self.site, T0)
        self.boot = {u: uuid.uuid4() for u in self.units}
        self.seq: dict[str, int] = dict.fromkeys(self.units, 0)
        self.hb_next: dict[str, float] = dict.fromkeys(self.units, 0.0)
        self.now_s = 0.0
        self.stored: dict[str, str] = {}  # event id -> incident id (receipts)

    # -- time ------------------------------------------------------------------------------
    def advance(self, s: float) -> None:
        """Heartbeats every 2 s (except while a unit is silent) and the console's timers, up to s."""
        while True:
            hb_unit = min(self.units, key=lambda u: self.hb_next[u])
            hb_t = self.hb_next[hb_unit]
            due = core.next_due(self.world)
            due_s = (due - T0).total_seconds() if due is not None else 1e9
            nxt = min(hb_t, due_s)
            if nxt > s:
                break
            if hb_t <= due_s:
                self.hb_next[hb_unit] = hb_t + 2.0
                quiet = self.silent.get(hb_unit)
                if quiet is None or not (quiet[0] <= hb_t < quiet[1]):
                    self._heartbeat(hb_unit, hb_t)
            else:
                self._step(core.Tick(), max(due_s, self.now_s))
        self.now_s = max(self.now_s, s)

    def _heartbeat(self, unit: str, s: float) -> None:
        hb = Heartbeat(
            unit_id=unit,
            boot_id=self.boot[unit],
            seq=int(s) + 1,
            sent_at=at(s),
            interval_s=2,
            uptime_s=s,
            outbox_depth=0,
            firmware_version="1",
            test_mode=False,
        )
        self._step(HeartbeatIn(hb), s)

    # -- the console (as console/shell/ does it, minus MQTT) -------------------------
    def _step(self, inp: Any, s: float, received: UnitEvent | None = None) -> list[Any]:
        now = at(s)
        self.now_s = max(self.now_s, s)
        self.world, effects = core.step(self.world, inp, now)
        batch = Batch()
        w = self.world
        touched: set[str] = set()
        t_out = unix(s) + LATENCY_S
        for e in effects:
            if isinstance(e, Record):
                batch.facts.append(e.fact)
                iid = getattr(e.fact, "incident_id", None)
                if iid is not None and iid in w.engine.incidents:
                    batch.incidents[iid] = w.engine.incidents[iid]
                uid = getattr(e.fact, "unit_id", None)
                if uid is not None and uid in w.units.units:
                    touched.add(uid)
            elif isinstance(e, PublishHealth):
                touched.add(e.unit_id)
            elif isinstance(e, Notify):
                n = e.notice
                inc = w.engine.incidents.get(n.incident_id) if n.incident_id else None
                for pid, nid in zip(n.person_ids, n.notification_ids, strict=True):
                    self.wire(
                        t_out,
                        self.T.person_notify(pid),
                        encode(render(w.units.site, n, pid, nid, inc)),
                    )
            elif isinstance(e, SendReceipt):
                if received is not None and e.event_id == received.event_id:
                    batch.received.append(
                        (
                            str(e.event_id),
                            e.unit_id,
                            received.kind.value,
                            now.isoformat(),
                            e.incident_id,
                            encode(received),
                        )
                    )
                rc = Receipt(event_id=e.event_id, unit_id=e.unit_id, incident_id=e.incident_id, stored_at=now)
                self.wire(t_out, self.T.unit_receipt(e.unit_id), encode(rc))
                self.line(
                    e.unit_id,
                    s + 2 * LATENCY_S,
                    "receipt",
                    event_id=str(e.event_id),
                    incident_id=e.incident_id,
                )
            elif isinstance(e, UnitFeedback):
                cmd = FeedbackCmd(
                    cmd_id=uuid.uuid4(),
                    unit_id=e.unit_id,
                    issued_at=now,
                    incident_id=e.incident_id,
                    feedback=e.feedback,
                )
                self.wire(t_out, self.T.unit_cmd(e.unit_id), encode(cmd))
                self.line(e.unit_id, s + 2 * LATENCY_S, "led", pattern=e.feedback.value)
            elif isinstance(e, PublishIncident):
                self.wire(
                    t_out, self.T.incident(e.incident_id), encode(w.engine.incidents[e.incident_id].to_wire())
                )
            elif isinstance(e, Reply):
                rep = CommandReply.model_validate(
                    {"cmd_id": e.cmd_id, "ok": e.ok, "code": e.code, "incident_id": e.incident_id}
                )
                self.wire(t_out, self.T.person_reply(e.person_id), encode(rep))
        for uid in touched:
            batch.units[uid] = unit_row(w.units, uid)
            self.wire(t_out, self.T.unitstate(uid), encode(w.units.health(uid)))
        self.store.commit(batch, now)
        return effects

    # -- what the soak records ---------------------------------------------------------------
    def wire(self, t: float, topic: str, payload: bytes) -> None:
        self.capture.append({"t": t, "topic": topic, "retain": False, "payload": payload.decode()})

    def line(self, unit: str, s: float, event: str, **kw: Any) -> dict[str, Any]:
        rec = {"ts": unix(s), "unit": unit, "event": event, **kw, "gen": 0, "shard": self.shard[unit]}
        self.sim.append(rec)
        return rec

    # -- inputs ------------------------------------------------------------------------------
    def online(self, s: float) -> None:
        self.advance(s)
        for u in self.units:
            st = UnitStatus(
                unit_id=u, state=LinkState.ONLINE, boot_id=self.boot[u], reason="connected", at=at(s)
            )
            self._step(StatusIn(st), s)

    def press(self, unit: str, s: float, *, hold: bool = False, test: bool = False) -> str:
        """The unit stores a press at `s`; the console gets it 10 ms later, or (`hold`) when
        `deliver` says."""
        self.seq[unit] += 1
        kind = EventKind.TEST if test else EventKind.ALARM
        ev = UnitEvent(
            event_id=uuid.uuid4(),
            unit_id=unit,
            kind=kind,
            button_id="knop",
            seq=self.seq[unit],
            boot_id=self.boot[unit],
            occurred_at=at(s),
            sent_at=at(s),
        )
        self.advance(s)
        self.line(unit, s, f"{kind.value}_stored", event_id=str(ev.event_id), button="knop", seq=ev.seq)
        self.held[str(ev.event_id)] = ev
        if not hold:
            self.deliver(str(ev.event_id), s + 0.01)
        return str(ev.event_id)

    def deliver(self, event_id: str, s: float) -> None:
        self.advance(s)
        ev = self.held.pop(event_id)
        self._step(UnitEventIn(ev), s, received=ev)

    def incident_of(self, event_id: str) -> str:
        row = self.store.db.execute(
            "SELECT incident_id FROM received WHERE event_id = ?", (event_id,)
        ).fetchone()
        assert row is not None and row[0] is not None
        return str(row[0])

    def command(self, person: str, cmd: Any, s: float, **log: Any) -> None:
        self.advance(s)
        self.leads.append(
            {"t": unix(s), "person": person, "kind": cmd.kind, "cmd_id": str(cmd.cmd_id), **log}
        )
        self._step(PersonCmdIn(cmd), s)

    def ack(self, person: str, iid: str, s: float) -> None:
        cmd = AckCmd(cmd_id=uuid.uuid4(), person_id=person, issued_at=at(s), incident_id=iid)
        self.command(person, cmd, s, incident_id=iid)

    def resolve(self, person: str, iid: str, s: float) -> None:
        reg = Registration(false_alarm=True, note="soak")
        cmd = ResolveCmd(
            cmd_id=uuid.uuid4(), person_id=person, issued_at=at(s), incident_id=iid, registration=reg
        )
        self.command(person, cmd, s, incident_id=iid)

    def window(self, scope: Scope, target: str, s: float) -> None:
        cmd = WindowCmd(
            cmd_id=uuid.uuid4(), person_id="fien", issued_at=at(s), scope=scope, target=target, minutes=0.5
        )
        self.command("fien", cmd, s, incident_id=None)

    def presence(self, person: str, present: bool, s: float) -> None:
        cmd = PresenceCmd(cmd_id=uuid.uuid4(), person_id=person, issued_at=at(s), present=present)
        self.command(person, cmd, s, incident_id=None)

    def fault(self, kind: str, target: str, start: float, end: float, **extra: Any) -> None:
        self.faults.append(fault_record(kind, target, start, end, **extra))

    # -- the directory -----------------------------------------------------------------------
    def finish(self) -> Path:
        self.advance(END_S)
        self.store.close()
        plan = {"seed": 7, "duration_s": END_S, "units": self.units, "shards": 2, "faults": [], "presses": []}
        (self.d / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
        run = {
            "seed": 7,
            "started": unix(-1),
            "phases": {"start": unix(0), "press_end": unix(END_S - 5), "drain_end": unix(END_S)},
            "errors": [],
        }
        (self.d / "run.json").write_text(json.dumps(run), encoding="utf-8")
        for name, rows in (
            ("capture", self.capture),
            ("leads", self.leads),
            ("faults", self.faults),
            ("hostile", self.hostile),
            ("presses", []),
        ):
            write_jsonl(self.d / f"{name}.jsonl", rows)
        for s in sorted(set(self.shard.values())):
            write_jsonl(self.d / f"sim-shard-{s}.jsonl", [x for x in self.sim if x["shard"] == s])
        return self.d


def fault_record(kind: str, target: str, start: float, end: float, **extra: Any) -> dict[str, Any]:
    """A line of faults.jsonl: a fault applied from `start` to `end` (seconds into the run)."""
    rec = {
        "kind": kind,
        "target": target,
        "planned_at": start,
        "down_s": end - start,
        "start": unix(start),
        "end": unix(end),
        "note": "",
    }
    return {**rec, **extra}


def add_fault(d: Path, kind: str, target: str, start: float, end: float, **extra: Any) -> None:
    edit_jsonl(d / "faults.jsonl", lambda rows: [*rows, fault_record(kind, target, start, end, **extra)])


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def edit_jsonl(path: Path, fn: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    write_jsonl(path, fn(read_jsonl(path)))


def sql(d: Path, statement: str, *args: Any) -> None:
    db = sqlite3.connect(d / "console.db")
    with db:
        db.execute(statement, args)
    db.close()


def results(d: Path) -> dict[str, check.Result]:
    return {r.name: r for r in check.check(check.Run.load(d))}


def broken(d: Path) -> dict[str, list[str]]:
    """Invariant -> the texts of its violations (only the broken ones)."""
    return {k: [v.text for v in r.violations] for k, r in results(d).items() if r.violations}


# --------------------------------------------------------------------------- the scenario


@dataclass
class Story:
    """The made-up run, and the ids a test needs to tamper with it."""

    d: Path
    quick: str = ""  # acknowledged before level 2
    slow: str = ""  # escalates to level 3 with repeats, then acknowledged
    test_event: str = ""
    skipped: str = ""  # level 1 skipped (its lead absent)
    cut_press: str = ""  # the solo unit's press during its network cut


def make_story(d: Path) -> Story:
    r = FakeRun(d)
    s = Story(d)
    a, b, c = "sim-0000", "sim-0001", "sim-0002"  # spreekkamer-1, balie-1, spreekkamer-1
    # the solo unit's network is cut 20-36 s: no heartbeats; its press at 30 arrives at 37
    r.silent[SOLO_UNIT] = (20.0, 36.0)
    r.fault("net_cut", f"shard-{r.shard[SOLO_UNIT]}", 20.0, 36.0)
    r.online(0.0)
    e = r.press(a, 5.0)
    s.quick = r.incident_of(e)
    r.ack("an", s.quick, 5.5)
    r.resolve("an", s.quick, 7.0)
    e = r.press(b, 10.0)
    s.slow = r.incident_of(e)
    r.ack("chris", s.slow, 23.0)  # levels at 10, 11, 12; repeats at 17, 22
    r.resolve("chris", s.slow, 24.0)
    e = r.press(a, 26.0)
    iid = r.incident_of(e)
    r.ack("an", iid, 26.5)
    r.press(a, 26.8)  # joins the acknowledged incident
    r.resolve("an", iid, 28.0)
    s.cut_press = r.press(SOLO_UNIT, 30.0, hold=True)
    # a room window for spreekkamer-1; c's test press counts, its second press is an alarm
    r.window(Scope.ROOM, "spreekkamer-1", 30.2)
    s.test_event = r.press(c, 31.5, test=True)
    e = r.press(c, 33.0)
    iid = r.incident_of(e)
    r.ack("dirk", iid, 33.4)
    r.resolve("dirk", iid, 34.0)
    # an is absent: level 1 of sociale-dienst is skipped, level 2 (dirk) at once
    r.fault("lead_absent", "lead-an", 35.5, 44.0, person="an")
    r.presence("an", False, 36.0)
    r.deliver(s.cut_press, 37.0)
    iid = r.incident_of(s.cut_press)
    r.ack("chris", iid, 37.3)
    e = r.press(a, 38.0)
    s.skipped = r.incident_of(e)
    r.resolve("chris", iid, 38.2)
    r.ack("dirk", s.skipped, 38.5)
    r.resolve("dirk", s.skipped, 39.0)
    # the hostile client: a spoofed event never stored, a command refused
    spoof, cmd = str(uuid.uuid4()), str(uuid.uuid4())
    r.hostile.append({"t": unix(40.0), "action": "unit_as_other_unit", "victim": b, "event_ids": [spoof]})
    r.hostile.append({"t": unix(40.1), "action": "person_spoof", "person": "els", "cmd_ids": [cmd]})
    r.wire(
        unix(40.2),
        r.T.person_reply("els"),
        encode(CommandReply(cmd_id=uuid.UUID(cmd), ok=False, code="not_authorised")),
    )
    r.presence("an", True, 43.5)
    r.finish()
    return s


@pytest.fixture
def story(tmp_path: Path) -> Story:
    return make_story(tmp_path / "run")


def notes_of(d: Path, iid: str, **match: Any) -> list[dict[str, Any]]:
    """The capture's notifications of an incident (decoded payloads, in order)."""
    out = []
    for x in read_jsonl(d / "capture.jsonl"):
        if x["topic"].endswith("/notify"):
            n = json.loads(x["payload"])
            if n.get("incident_id") == iid and all(n.get(k) == v for k, v in match.items()):
                out.append(n)
    return out


def drop_capture(d: Path, pred: Callable[[dict[str, Any], dict[str, Any]], bool]) -> int:
    """Remove the capture lines whose (line, decoded payload) match; returns how many."""
    rows = read_jsonl(d / "capture.jsonl")
    keep = []
    for x in rows:
        try:
            p = json.loads(x["payload"])
        except ValueError:
            p = {}
        if not pred(x, p if isinstance(p, dict) else {}):
            keep.append(x)
    write_jsonl(d / "capture.jsonl", keep)
    return len(rows) - len(keep)


# --------------------------------------------------------------------------- the untampered run


def test_the_untampered_run_holds_every_invariant_with_checks_made(story: Story) -> None:
    res = results(story.d)
    assert {k: [v.text for v in r.violations] for k, r in res.items() if r.violations} == {}
    assert all(r.checked > 0 for r in res.values()), {k: r.checked for k, r in res.items()}
    # what the scenario put in is what the checker saw
    assert "1 levels skipped" in res["2"].note
    assert "2 repeats" in res["2"].note
    assert "1 as tests" in res["7"].note and "1 room" in res["7"].note
    assert "1 cut(s) longer than" in res["5"].note


# --------------------------------------------------------------------------- invariant 1


def test_a_press_the_console_never_stored_is_lost(story: Story) -> None:
    sql(story.d, "DELETE FROM received WHERE incident_id = ?", story.quick)
    assert any("never stored by the console (lost)" in t for t in broken(story.d)["1"])


def test_a_second_incident_while_the_first_is_open_is_a_duplicate(story: Story) -> None:
    sql(
        story.d,
        "UPDATE incidents SET resolved_at = NULL, status = 'acknowledged' WHERE incident_id = ?",
        story.quick,
    )
    assert any("a duplicate incident" in t for t in broken(story.d)["1"])


def test_a_resent_event_must_map_to_the_same_incident(story: Story) -> None:
    # the solo unit crashed at the receipt and resent the press: the second receipt names another incident
    edit_jsonl(
        story.d / "sim-shard-2.jsonl",
        lambda rows: (
            [
                *rows,
                {
                    **next(x for x in rows if x["event"] == "receipt" and x["event_id"] == story.cut_press),
                    "incident_id": "20261201-0099",
                    "gen": 1,
                },
            ]
        ),
    )
    assert any("receipts name" in t for t in broken(story.d)["1"])


def test_an_alarm_nobody_pressed_is_reported(story: Story) -> None:
    edit_jsonl(
        story.d / "sim-shard-0.jsonl",
        lambda rows: [
            x for x in rows if not (x["event"] in ("alarm_stored", "receipt") and x.get("unit") == "sim-0000")
        ],
    )
    assert any("that no unit pressed" in t for t in broken(story.d)["1"])


# --------------------------------------------------------------------------- invariant 2


def test_a_level_never_notified_is_reported(story: Story) -> None:
    assert drop_capture(story.d, lambda x, p: p.get("incident_id") == story.slow and p.get("level") == 2) > 0
    assert any("level 2 never notified" in t for t in broken(story.d)["2"])


def test_a_late_level_is_reported(story: Story) -> None:
    def late(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for x in rows:
            if x["topic"].endswith("/notify") and f'"incident_id":"{story.slow}"' in x["payload"]:
                if '"level":2' in x["payload"] and '"reason":"escalation"' in x["payload"]:
                    x["t"] += 4.0
        return rows

    edit_jsonl(story.d / "capture.jsonl", late)
    assert any("level 2 arrived 4.0 s after it was due" in t for t in broken(story.d)["2"])


def test_a_missing_repeat_of_the_last_level_is_reported(story: Story) -> None:
    repeats = notes_of(story.d, story.slow, reason="repeat")
    assert len({n["at"] for n in repeats}) == 2
    first = min(n["at"] for n in repeats)
    assert drop_capture(story.d, lambda x, p: p.get("incident_id") == story.slow and p.get("at") == first) > 0
    assert any("repeat arrived 5.0 s after it was due" in t for t in broken(story.d)["2"])


def test_repeats_that_stop_before_the_acknowledgement_are_reported(story: Story) -> None:
    assert drop_capture(
        story.d, lambda x, p: p.get("incident_id") == story.slow and p.get("reason") == "repeat"
    )
    assert any("no repeat after" in t for t in broken(story.d)["2"])


def test_a_page_after_the_acknowledgement_is_reported(story: Story) -> None:
    # the acknowledgement moved back before level 3: the level came after it
    sql(
        story.d,
        "UPDATE incidents SET acknowledged_at = ? WHERE incident_id = ?",
        at(11.5).isoformat(),
        story.slow,
    )
    texts = broken(story.d)["2"]
    assert any("level 3 notified after its acknowledgement" in t for t in texts)
    assert any("after its acknowledgement" in t and "repeat" in t for t in texts)


def test_a_press_delayed_by_a_network_cut_is_late_without_the_cut(story: Story) -> None:
    edit_jsonl(story.d / "faults.jsonl", lambda rows: [f for f in rows if f["kind"] != "net_cut"])
    assert any("level 1 arrived" in t for t in broken(story.d)["2"])


def test_a_level_skipped_while_its_lead_was_present_is_reported(story: Story) -> None:
    sql(story.d, "DELETE FROM events WHERE kind = 'presence_changed'")
    assert any("level 1 skipped while ['an']" in t for t in broken(story.d)["2"])


def test_an_absence_no_fault_asked_for_is_reported(story: Story) -> None:
    edit_jsonl(story.d / "faults.jsonl", lambda rows: [f for f in rows if f["kind"] != "lead_absent"])
    assert any("absent" in t and "no lead_absent fault" in t for t in broken(story.d)["2"])


# --------------------------------------------------------------------------- invariant 3


def test_a_level_paged_twice_under_two_notice_ids_is_reported(story: Story) -> None:
    def twice(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for x in rows:
            out.append(x)
            p = json.loads(x["payload"]) if x["topic"].endswith("/notify") else {}
            if p.get("incident_id") == story.slow and p.get("level") == 2:
                again = {**p, "notification_id": str(uuid.uuid4()), "at": at(11.9).isoformat()}
                out.append({**x, "t": x["t"] + 0.9, "payload": json.dumps(again)})
        return out

    edit_jsonl(story.d / "capture.jsonl", twice)
    assert any("paged at level 2 under 2 notice ids" in t for t in broken(story.d)["3"])


def test_the_same_notice_delivered_again_is_allowed(story: Story) -> None:
    def again(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        extra = [
            {**x, "t": x["t"] + 3.0}
            for x in rows
            if x["topic"].endswith("/notify")
            and f'"incident_id":"{story.slow}"' in x["payload"]
            and '"level":2' in x["payload"]
        ]
        return sorted(rows + extra, key=lambda x: x["t"])

    edit_jsonl(story.d / "capture.jsonl", again)
    res = results(story.d)
    assert res["3"].violations == []
    assert res["3"].note.startswith("1 notice(s) seen more than once")


# --------------------------------------------------------------------------- invariant 4


def test_an_led_acknowledged_with_no_acknowledgement_is_reported(story: Story) -> None:
    edit_jsonl(
        story.d / "sim-shard-1.jsonl",
        lambda rows: (
            [
                *rows,
                {
                    "ts": unix(45.0),
                    "unit": "sim-0003",
                    "event": "led",
                    "pattern": "acknowledged",
                    "gen": 0,
                    "shard": 1,
                },
            ]
        ),
    )
    assert any("LED of sim-0003 showed 'acknowledged'" in t for t in broken(story.d)["4"])


def test_an_acknowledgement_that_never_reached_the_led_is_reported(story: Story) -> None:
    edit_jsonl(
        story.d / "sim-shard-1.jsonl",
        lambda rows: [x for x in rows if not (x["event"] == "led" and x["unit"] == "sim-0001")],
    )
    assert any(f"incident {story.slow} acknowledged, the LED" in t for t in broken(story.d)["4"])


# --------------------------------------------------------------------------- invariant 5


def test_a_unit_reported_offline_with_no_fault_is_reported(story: Story) -> None:
    def offline(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        state = next(json.loads(x["payload"]) for x in rows if x["topic"].endswith("/unitstate/sim-0001"))
        t = unix(41.0)
        rows.append(
            {
                "t": t,
                "topic": rows[0]["topic"].rsplit("/", 2)[0] + "/unitstate/sim-0001",
                "retain": True,
                "payload": json.dumps({**state, "online": False}),
            }
        )
        rows.append({**rows[-1], "t": t + 1, "payload": json.dumps({**state, "online": True})})
        return rows

    edit_jsonl(story.d / "capture.jsonl", offline)
    assert any("sim-0001 reported offline" in t and "with no fault on it" in t for t in broken(story.d)["5"])


def test_a_cut_unit_never_reported_offline_is_reported(story: Story) -> None:
    n = drop_capture(
        story.d, lambda x, p: x["topic"].endswith(f"/unitstate/{SOLO_UNIT}") and p.get("online") is False
    )
    assert n > 0
    assert any(f"unit {SOLO_UNIT} cut off at" in t for t in broken(story.d)["5"])


def test_an_offline_report_outside_the_cut_is_false(story: Story) -> None:
    edit_jsonl(story.d / "faults.jsonl", lambda rows: [f for f in rows if f["kind"] != "net_cut"])
    assert any(f"unit {SOLO_UNIT} reported offline" in t for t in broken(story.d)["5"])


# --------------------------------------------------------------------------- invariant 6


def test_a_projection_that_differs_from_the_log_is_reported(story: Story) -> None:
    sql(story.d, "UPDATE incidents SET presses = 5 WHERE incident_id = ?", story.quick)
    assert any(
        f"incident {story.quick}: the table differs from the rebuild in ['presses']" in t
        for t in broken(story.d)["6"]
    )


def test_a_retained_state_that_differs_from_the_log_is_reported(story: Story) -> None:
    drop_capture(
        story.d,
        lambda x, p: x["topic"].endswith(f"/incident/{story.quick}") and p.get("status") == "resolved",
    )
    assert any(f"incident {story.quick}: last retained state differs" in t for t in broken(story.d)["6"])


# --------------------------------------------------------------------------- invariant 7


def test_a_real_press_recorded_as_a_test_is_reported(story: Story) -> None:
    edit_jsonl(
        story.d / "sim-shard-0.jsonl",
        lambda rows: [
            {**x, "event": "alarm_stored"}
            if x.get("event_id") == story.test_event and x["event"] == "test_stored"
            else x
            for x in rows
        ],
    )
    assert any("real press" in t and "recorded as a test" in t for t in broken(story.d)["7"])


def test_a_test_recorded_with_no_window_is_reported(story: Story) -> None:
    sql(story.d, "DELETE FROM events WHERE kind = 'campaign_started'")
    assert any("recorded as a test, no open window takes it" in t for t in broken(story.d)["7"])


def test_a_room_window_that_covers_another_room_is_reported(story: Story) -> None:
    sql(
        story.d,
        """UPDATE events SET data = json_set(data, '$.unit_ids', json('["sim-0001"]'))
                    WHERE kind = 'campaign_started'""",
    )
    texts = broken(story.d)["7"]
    assert any("(room spreekkamer-1) covers ['sim-0001']" in t for t in texts)
    assert any("no open window takes it" in t for t in texts)


# --------------------------------------------------------------------------- invariant 8


def test_a_hostile_command_that_was_accepted_is_reported(story: Story) -> None:
    edit_jsonl(
        story.d / "capture.jsonl",
        lambda rows: [
            {**x, "payload": x["payload"].replace('"ok":false', '"ok":true')}
            if x["topic"].endswith("/els/reply")
            else x
            for x in rows
        ],
    )
    assert any("hostile command" in t and "was accepted" in t for t in broken(story.d)["8"])


def test_an_acknowledgement_by_someone_who_never_sent_it_is_reported(story: Story) -> None:
    sql(story.d, "UPDATE incidents SET acknowledged_by = 'els' WHERE incident_id = ?", story.quick)
    assert any("acknowledged_by els" in t for t in broken(story.d)["8"])


def test_a_spoofed_event_that_was_stored_is_reported(story: Story) -> None:
    spoof = next(h for h in read_jsonl(story.d / "hostile.jsonl") if h.get("event_ids"))["event_ids"][0]
    sql(
        story.d,
        "INSERT INTO received VALUES (?, ?, 'alarm', ?, NULL, x'00')",
        spoof,
        HOSTILE_UNIT,
        at(41.0).isoformat(),
    )
    assert any(f"spoofed event {spoof} was stored" in t for t in broken(story.d)["8"])


# --------------------------------------------------------------------------- fault allowances


def test_a_level_paged_again_is_allowed_only_after_a_restart_with_the_disk_full(story: Story) -> None:
    """console/shell/degraded.py: a restart while the disk is full loses the pages it held in memory;
    the restarted console pages that level again. Allowed then, and only then."""

    def twice(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for x in rows:
            out.append(x)
            p = json.loads(x["payload"]) if x["topic"].endswith("/notify") else {}
            if p.get("incident_id") == story.slow and p.get("level") == 2:
                again = {**p, "notification_id": str(uuid.uuid4()), "at": at(14.0).isoformat()}
                out.append({**x, "t": unix(14.0), "payload": json.dumps(again)})
        return out

    edit_jsonl(story.d / "capture.jsonl", twice)
    assert "3" in broken(story.d)
    add_fault(story.d, "disk_full", "console-disk", 10.5, 16.0)
    add_fault(story.d, "console_kill", "console", 12.0, 13.5)
    res = results(story.d)
    assert res["3"].violations == []
    assert "paged again after a restart with the disk full" in res["3"].note


def test_a_crashed_units_press_named_by_its_fault_must_arrive(story: Story) -> None:
    """unit_crash_store: the fault's record names the event; it is checked like a stored press
    even when the unit died before its `alarm_stored` line."""
    edit_jsonl(
        story.d / "sim-shard-2.jsonl", lambda rows: [x for x in rows if not (x["event"] == "alarm_stored")]
    )
    assert broken(story.d) == {}  # the receipt line still vouches for it
    # (a crash is also a kill of the unit: invariant 5 is not what this is about)
    add_fault(
        story.d,
        "unit_crash_store",
        "shard-2",
        29.9,
        30.5,
        event_id=story.cut_press,
        note=f"event {story.cut_press}",
    )
    assert "1" not in broken(story.d)
    sql(story.d, "DELETE FROM received WHERE event_id = ?", story.cut_press)
    assert any(f"press {story.cut_press} of {SOLO_UNIT}" in t and "(lost)" in t for t in broken(story.d)["1"])


def test_a_stepped_unit_clock_is_read_by_the_soaks_own_clock(story: Story) -> None:
    """clock_step: the solo unit's own times are off; the checker uses `rx` (when the soak read
    the line) for a shard whose clock was stepped, never the unit's `ts`."""

    def step(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**x, "rx": x["ts"] + 0.001, "ts": x["ts"] - 7200} for x in rows]

    edit_jsonl(story.d / "sim-shard-2.jsonl", step)
    assert "2" in broken(story.d)  # with the unit's own clock its press looks two hours late
    add_fault(story.d, "clock_step", "shard-2", 2.0, 50.0, offset_s=-7200)
    assert broken(story.d) == {}


def test_a_cut_unit_never_reported_online_again_is_reported(story: Story) -> None:
    back = unix(35.0)
    n = drop_capture(
        story.d,
        lambda x, p: (
            x["topic"].endswith(f"/unitstate/{SOLO_UNIT}") and p.get("online") is True and x["t"] > back
        ),
    )
    assert n > 0
    texts = broken(story.d)["5"]
    assert any(
        f"unit {SOLO_UNIT} back at" in t and "(net_cut) was never reported online again" in t for t in texts
    )
    assert any(f"unit {SOLO_UNIT} ends the run reported offline" in t for t in texts)


def test_a_kill_of_a_unit_already_reported_offline_owes_no_second_report(story: Story) -> None:
    """Regression (long run, seed 20261202): solo-0000 was killed 0.01 s after its network cut
    ended, before it had reconnected; the cut's offline report stood, none more was due."""
    add_fault(story.d, "unit_kill", f"shard-{shard_of_solo(story.d)}", 33.0, 35.5, note="killed")
    assert not any("killed at" in t for t in broken(story.d).get("5", []))


def test_a_kill_of_an_online_unit_never_reported_offline_is_reported(story: Story) -> None:
    add_fault(story.d, "sim_kill", "shard-0", 50.0, 52.0)
    assert any("killed at" in t and "was never reported offline" in t for t in broken(story.d)["5"])


def shard_of_solo(d: Path) -> int:
    cut = next(x for x in read_jsonl(d / "faults.jsonl") if x["kind"] == "net_cut")
    return int(cut["target"].split("-")[1])


def _drop_first_receipt_line(story: Story, unit: str) -> tuple[str, float]:
    path = next(p for p in story.d.glob("sim-shard-*.jsonl") if f'"unit": "{unit}"' in p.read_text())
    rows = read_jsonl(path)
    first = next(x for x in rows if x["event"] == "receipt" and x["unit"] == unit)
    write_jsonl(path, [x for x in rows if x is not first])
    return first["event_id"], first["ts"]


def test_a_receipt_line_lost_with_a_kill_is_vouched_for_by_the_wire(story: Story) -> None:
    """Regression (long run, seed 20261202): solo-0000 was SIGKILLed after its outbox recorded the
    console's receipt and before it printed the receipt line; the next start had nothing to resend."""
    eid, t = _drop_first_receipt_line(story, "sim-0000")
    shard = next(x["shard"] for x in read_jsonl(story.d / "sim-shard-0.jsonl") if x["unit"] == "sim-0000")
    s = t - unix(0.0)  # seconds into the run
    add_fault(story.d, "sim_kill", f"shard-{shard}", s - 0.05, s + 2.0)
    res = results(story.d)
    assert not any(eid in v.text for v in res["1"].violations), [v.text for v in res["1"].violations]
    assert res["1"].note.startswith("1 receipt line(s) lost with a kill")


def test_a_receipt_line_missing_without_a_kill_is_reported(story: Story) -> None:
    eid, _t = _drop_first_receipt_line(story, "sim-0000")
    assert any(eid in t and "never receipted to the unit" in t for t in broken(story.d)["1"])


def test_back_to_back_cuts_owe_one_offline_report(story: Story) -> None:
    """Regression (long run, seed 20261202): a second net_cut began the instant the first ended,
    while the unit was still reported offline from the first; no second report was owed."""

    def split(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        cut = next(f for f in rows if f["kind"] == "net_cut")
        mid = cut["start"] + 7.0  # after the offline report (6 s bound); the rest still over the bound
        first = {**cut, "end": mid}
        second = {**cut, "start": mid, "planned_at": cut["planned_at"] + 7.0}
        return [f for f in rows if f is not cut] + [first, second]

    edit_jsonl(story.d / "faults.jsonl", split)
    assert not any("cut off at" in t for t in broken(story.d).get("5", []))


def test_a_kill_inside_a_console_restart_is_reported_after_the_console_returns(story: Story) -> None:
    """Regression (long run, seed 20261202): a shard was killed and back while the console was
    down; the restarted console reported the unit offline (the will it missed) 0.3 s after the old
    allowance (kill end + 4 s), then online. The allowance now runs past the console's outage."""

    def late_report(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        state = next(json.loads(x["payload"]) for x in rows if x["topic"].endswith("/unitstate/sim-0001"))
        topic = rows[0]["topic"].rsplit("/", 2)[0] + "/unitstate/sim-0001"
        for t, on in ((unix(50.5), False), (unix(51.0), True)):
            rows.append(
                {"t": t, "topic": topic, "retain": True, "payload": json.dumps({**state, "online": on})}
            )
        return sorted(rows, key=lambda x: x["t"])

    shard = next(x["shard"] for x in read_jsonl(story.d / "sim-shard-1.jsonl") if x["unit"] == "sim-0001")
    edit_jsonl(story.d / "capture.jsonl", late_report)
    add_fault(story.d, "console_kill", "console", 44.0, 50.0)
    add_fault(story.d, "sim_kill", f"shard-{shard}", 45.0, 46.0)
    texts = broken(story.d).get("5", [])
    assert not any("sim-0001 killed at" in t for t in texts), texts
