"""Issue 11, finding 11 (reports trusted the unit's clock) with real processes: a real mosquitto,
the real `alarm-console serve`, desk units played by MQTT clients with the units' own
credentials whose clocks say 1970, 2099, one hour ahead and one hour behind, and the CLI as a
subprocess (`ack`, `resolve`, `export --since`, `report --month`).

Every incident appears in the export and the monthly report on the console's day, response
times are the console's, the lead's notice says when the console stored the press, and each
wrong clock reaches facilities as a fault ("klok wijkt af" / "clock is off"), cleared when the
clock is right again. Timeouts are for liveness only.
"""

from __future__ import annotations

import json
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from stilalarm.devkit.servicerun import FAST_SITE
from stilalarm.inventory.load import parse_site
from stilalarm.wire.credentials import BrokerCredentials
from stilalarm.wire.link import Link
from stilalarm.wire.messages import (
    EventKind,
    Heartbeat,
    LinkState,
    NotifyReason,
    Receipt,
    UnitEvent,
    UnitHealth,
    UnitStatus,
    encode,
    parse,
    utcnow,
)
from stilalarm.wire.topics import Topics
from tests.harness import wait_until
from tests.rig import ConsoleRig

SITE_TEXT = (
    FAST_SITE
    + """
[[units]]
id = "balie-1b"
room = "balie-1"
heartbeat_s = 1
buttons = [{ id = "knop", contact = "no", pin = 5 }]
"""
)
SITE = parse_site(SITE_TEXT)
T = Topics(SITE.site.id)
TZ = ZoneInfo(SITE.site.timezone)
CLI = [str(Path(sys.executable).parent / "alarm-console")]
NOW = utcnow()
CLOCKS = {  # unit -> (its clock's offset from the true time, the team lead who takes it)
    "spreekkamer-1": (datetime(1970, 1, 1, tzinfo=UTC) - NOW, "an"),
    "balie-1": (datetime(2099, 6, 1, 12, tzinfo=UTC) - NOW, "chris"),
    "wachtzaal": (timedelta(hours=1), "chris"),
    "balie-1b": (timedelta(hours=-1), "chris"),
}


class WrongClockUnit:
    """A desk unit whose clock is off by `offset`: birth, heartbeats every second and events with
    its own (wrong) times, retransmitted until the console's receipt, as the firmware does."""

    def __init__(self, creds: BrokerCredentials, unit_id: str, offset: timedelta) -> None:
        self.unit_id = unit_id
        self.offset = offset
        self.boot_id = uuid.uuid4()
        self.seq = 0
        self.beats = 0
        self.pending: dict[uuid.UUID, UnitEvent] = {}
        self.receipts: dict[uuid.UUID, Receipt] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.link = Link(creds)
        self.link.subscribe(T.unit_receipt(unit_id), self._on_receipt)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def clock(self) -> datetime:
        return utcnow() + self.offset

    def start(self) -> WrongClockUnit:
        self.link.start()
        assert self.link.wait_connected(10), f"{self.unit_id} could not connect"
        birth = UnitStatus(
            unit_id=self.unit_id,
            state=LinkState.ONLINE,
            boot_id=self.boot_id,
            reason="connected",
            at=self.clock(),
        )
        self.link.publish(T.unit_status(self.unit_id), encode(birth), qos=1, retain=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.link.stop()

    def press(self) -> UnitEvent:
        self.seq += 1
        now = self.clock()
        ev = UnitEvent(
            event_id=uuid.uuid4(),
            unit_id=self.unit_id,
            kind=EventKind.ALARM,
            button_id="knop",
            seq=self.seq,
            boot_id=self.boot_id,
            occurred_at=now - timedelta(milliseconds=60),
            sent_at=now,
        )
        with self._lock:
            self.pending[ev.event_id] = ev
        self.link.publish(T.unit_event(self.unit_id), encode(ev), qos=1)
        return ev

    def _on_receipt(self, _topic: str, payload: bytes) -> None:
        r = parse(Receipt, payload)
        with self._lock:
            self.receipts.setdefault(r.event_id, r)
            self.pending.pop(r.event_id, None)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.beats += 1
            hb = Heartbeat(
                unit_id=self.unit_id,
                boot_id=self.boot_id,
                seq=self.beats,
                sent_at=self.clock(),
                interval_s=1.0,
                uptime_s=float(self.beats),
                outbox_depth=len(self.pending),
                firmware_version="test",
                test_mode=False,
            )
            self.link.publish(T.unit_heartbeat(self.unit_id), encode(hb), qos=0)
            with self._lock:
                due = list(self.pending.values())
            for ev in due:
                again = ev.model_copy(update={"attempt": ev.attempt + 1, "sent_at": self.clock()})
                self.link.publish(T.unit_event(self.unit_id), encode(again), qos=1)


class Rig(ConsoleRig):
    def __init__(self, dir: Path) -> None:
        super().__init__(dir, SITE_TEXT)
        self.clocks: dict[str, WrongClockUnit] = {}

    def stop(self) -> None:
        for u in self.clocks.values():
            u.stop()
        super().stop()

    def db_out(self, *args: str) -> str:
        done = self.db(*args)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def health(self, unit_id: str) -> UnitHealth | None:
        states = [parse(UnitHealth, p) for p in self.seen.on(T.unitstate(unit_id)) if p]
        return states[-1] if states else None


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    try:
        for uid, (offset, _lead) in CLOCKS.items():
            r.clocks[uid] = WrongClockUnit(r.broker.creds(f"unit-{uid}"), uid, offset).start()
        yield r
    finally:
        r.stop()


def clock_faults(r: Rig, person: str) -> dict[str, str]:
    return {
        n.unit_id or "": n.body
        for n in r.notes(person)
        if n.reason is NotifyReason.FAULT and ("Klok wijkt af" in n.body or "Clock is off" in n.body)
    }


def test_wrong_unit_clocks_do_not_move_incidents_or_response_times_and_are_reported(rig: Rig) -> None:
    r = rig
    # each wrong clock reaches facilities once, in their language
    wait_until(lambda: set(clock_faults(r, "gert")) == set(CLOCKS), 20, "a clock fault per unit for gert")
    wait_until(
        lambda: set(clock_faults(r, "fien")) == set(CLOCKS), 20, "a clock fault per unit for fien (en)"
    )
    assert "1970-01-01" in clock_faults(r, "gert")["spreekkamer-1"]
    assert "2099-06-01" in clock_faults(r, "gert")["balie-1"]
    assert "(+3600 s)" in clock_faults(r, "gert")["wachtzaal"]
    assert "(-3600 s)" in clock_faults(r, "fien")["balie-1b"]
    # the unit's retained health follows the notices (the console pages first, then publishes state)
    wait_until(
        lambda: all(
            "unit:clock" in (r.health(u) or UnitHealth(unit_id=u, online=False)).faults for u in CLOCKS
        ),
        10,
        "the clock fault in every unit's retained health",
    )

    # a press on each; the lead acknowledges and resolves it with the CLI
    incidents: dict[str, str] = {}
    for uid, (_offset, lead) in CLOCKS.items():
        unit = r.clocks[uid]
        ev = unit.press()
        wait_until(lambda: ev.event_id in unit.receipts, 15, f"the receipt for {uid}")  # noqa: B023
        iid = unit.receipts[ev.event_id].incident_id
        assert iid is not None
        incidents[uid] = iid
        wait_until(
            lambda: any(n.incident_id == iid and n.reason is NotifyReason.ALARM for n in r.notes(lead)),  # noqa: B023
            10,
            f"the alarm notice to {lead}",
        )
        stored = r.incident(iid).stored_at
        note = next(n for n in r.notes(lead) if n.incident_id == iid and n.reason is NotifyReason.ALARM)
        assert f"Gedrukt om {stored.astimezone(TZ):%H:%M:%S}" in note.body, note.body
        assert abs(r.incident(iid).pressed_at - stored) > timedelta(minutes=50)  # the unit's own time
        assert "ok" in r.person("ack", iid, "--as", lead)
        r.person(
            "resolve", iid, "--as", lead, "--type", "verbaal", "--severity", "boosheid", "--note", "klok"
        )

    stored_at = {uid: r.incident(iid).stored_at for uid, iid in incidents.items()}
    first_day = min(stored_at.values()).astimezone(TZ).date()

    # the registration export: every incident, on the console's day, its response time the console's
    rows = json.loads(r.db_out("export", "--since", first_day.isoformat(), "--format", "json"))
    by_id = {row["incident_id"]: row for row in rows}
    assert set(by_id) == set(incidents.values())
    for uid, iid in incidents.items():
        row = by_id[iid]
        assert row["date"] == stored_at[uid].astimezone(TZ).strftime("%Y-%m-%d")
        assert row["pressed_at"] == stored_at[uid].astimezone(TZ).strftime("%Y-%m-%d %H:%M:%S")
        assert 0 <= row["ack_seconds"] < 60, (uid, row["ack_seconds"])
    assert by_id[incidents["spreekkamer-1"]]["unit_time"].startswith("1970-01-01")
    assert by_id[incidents["balie-1"]]["unit_time"].startswith("2099-06-01")
    csv_out = r.db_out("export", "--since", first_day.isoformat())
    assert "tijd_eenheid" in csv_out.splitlines()[0] and all(iid in csv_out for iid in incidents.values())

    # the monthly report: all four, response times from the console's clock
    months = sorted({s.astimezone(TZ).strftime("%Y-%m") for s in stored_at.values()})
    reports = [json.loads(r.db_out("report", "--month", m, "--format", "json")) for m in months]
    assert sum(rep["incidents"] for rep in reports) == 4
    for rep in reports:
        assert rep["unacknowledged"] == 0
        assert 0 <= rep["ack_median_s"] <= rep["ack_worst_s"] < 60

    # NTP fixes one unit's clock: the fault clears (the notice waits for the flap window's summary)
    r.clocks["wachtzaal"].offset = timedelta(0)
    wait_until(
        lambda: (
            "unit:clock"
            not in (r.health("wachtzaal") or UnitHealth(unit_id="wachtzaal", online=False)).faults
        ),
        15,
        "the clock fault of wachtzaal cleared",
    )
    assert all(
        "unit:clock" in (r.health(u) or UnitHealth(unit_id=u, online=False)).faults
        for u in CLOCKS
        if u != "wachtzaal"
    )
