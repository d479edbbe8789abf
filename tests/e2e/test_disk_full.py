"""Disk full (issue #11, finding 8): the console database on a small REAL filesystem that fills up.

A 4 MiB tmpfs holds the database; a filler file takes every free byte. Real mosquitto, real
`alarm-console serve`, units played by `ScriptedUnit` (a real MQTT client with the unit's own
credentials that retransmits until its receipt, like the firmware's outbox). While the disk is
full the service must stay up, page from memory with "niet opgeslagen" / "not stored", send no
receipt and raise one store fault to facilities and the leads; when the filler goes it must store
and receipt everything it held, with one incident and no second page.

Mounting needs root (CI runs as root). Without root these tests FAIL with a message; they never
skip.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stilalarm.broker_config.local import LocalBroker
from stilalarm.devkit.servicerun import FAST_SITE, ScriptedUnit, ServiceProcess
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import Notification, NotifyReason, Receipt, UnitEvent, parse
from stilalarm.wire.topics import Topics
from tests.harness import Capture, fill, wait_until

SITE = parse_site(FAST_SITE)
T = Topics(SITE.site.id)
LEADS = ("an", "bart", "chris")
FACILITIES = ("fien", "gert")  # fien reads English


@dataclass
class Rig:
    dir: Path
    db: Path
    broker: LocalBroker
    console: ServiceProcess
    seen: Capture
    units: list[ScriptedUnit]

    def unit(self, unit_id: str) -> ScriptedUnit:
        u = ScriptedUnit(self.broker.creds(f"unit-{unit_id}"), unit_id, retry_s=0.5).start()
        self.units.append(u)
        return u

    def notes(self, person: str) -> list[Notification]:
        return self.seen.notifications(person)

    def store_faults(self, person: str) -> list[Notification]:
        return [
            n
            for n in self.notes(person)
            if n.reason is NotifyReason.FAULT and ("kan niet opslaan" in n.title or "cannot store" in n.title)
        ]

    def store_recovered(self, person: str) -> list[Notification]:
        return stores_again(self.seen, person)

    def receipts(self, unit_id: str) -> list[Receipt]:
        return [parse(Receipt, p) for p in self.seen.on(T.unit_receipt(unit_id))]

    def query(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        return query(self.db, sql, *args)


def query(db: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    """Rows of `sql` on the console's database, read-only."""
    c = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return list(c.execute(sql, args))
    finally:
        c.close()


def stores_again(seen: Capture, person: str) -> list[Notification]:
    """The "stores again" notices (the end of degraded mode) `person` got."""
    return [n for n in seen.notifications(person) if "slaat weer op" in n.title or "stores again" in n.title]


@pytest.fixture
def rig(tmp_path: Path, small_fs: Path) -> Iterator[Rig]:
    site_file = tmp_path / "site.toml"
    site_file.write_text(FAST_SITE)
    broker = LocalBroker(SITE, tmp_path / "broker")
    broker.start()
    seen = Capture(broker.creds("observer"), (f"{T.base}/#",)).start()
    db = small_fs / "console.db"
    console = ServiceProcess(site_file, db, broker.dir, tmp_path / "console.log")
    console.start()  # the first start passes --init
    console.wait_ready()
    r = Rig(tmp_path, db, broker, console, seen, [])
    try:
        yield r
    finally:
        for u in r.units:
            u.stop()
        console.kill()  # before the fixture unmounts the tmpfs
        seen.stop()
        broker.kill()


def retransmitted(unit: ScriptedUnit, ev: UnitEvent, times: int) -> bool:
    """The unit has sent `ev` again at least `times` times (it is still in its outbox)."""
    with unit._lock:
        pending = unit.pending.get(ev.event_id)
    return pending is not None and pending.attempt >= times


def alarm_pages(seen: Capture, person: str, incident_id: str | None) -> list[Notification]:
    """`person`'s alarm and escalation pages of one incident."""
    kinds = (NotifyReason.ALARM, NotifyReason.ESCALATION)
    return [n for n in seen.notifications(person) if n.incident_id == incident_id and n.reason in kinds]


def test_disk_full_pages_from_memory_without_receipt_then_stores_everything_once(rig: Rig) -> None:
    filler = rig.db.parent / "filler"
    fill(filler)
    a = rig.unit("spreekkamer-1")  # team sociale-dienst: lead an, deputy dirk, then everyone + 101
    ev = a.press()

    # paged from memory, marked "not stored", to the lead (Dutch)
    def lead_paged() -> list[Notification]:
        return [n for n in rig.notes("an") if n.reason is NotifyReason.ALARM]

    wait_until(lambda: bool(lead_paged()), 15, "the lead's page while the disk is full")
    page = lead_paged()[0]
    assert "niet opgeslagen" in page.body and "niet opgeslagen" in page.title, page
    assert page.title.startswith("ALARM Spreekkamer 1")
    incident = page.incident_id
    assert incident is not None
    # escalation keeps running from memory: the deputy, then level 3 (everyone, Bel 101)
    wait_until(lambda: bool(alarm_pages(rig.seen, "dirk", incident)), 15, "the deputy paged from memory")
    wait_until(lambda: any(n.level == 3 for n in alarm_pages(rig.seen, "chris", incident)), 15, "level 3")
    assert all("niet opgeslagen" in n.body for n in alarm_pages(rig.seen, "chris", incident))

    # ONE loud fault to facilities and every lead (English for fien)
    for person in (*FACILITIES, *LEADS):
        wait_until(lambda p=person: bool(rig.store_faults(p)), 15, f"the store fault to {person}")
    fien = rig.store_faults("fien")[0]
    assert "cannot store" in fien.title and "not stored" in fien.body
    assert "kan niet opslaan" in rig.store_faults("gert")[0].title

    # a second unit presses while the disk is still full
    b = rig.unit("balie-1")  # team onthaal: lead chris
    ev_b = b.press()
    wait_until(
        lambda: any(
            n.reason is NotifyReason.ALARM and n.incident_id != incident and "niet opgeslagen" in n.body
            for n in rig.notes("chris")
        ),
        15,
        "the second unit's alarm paged from memory",
    )
    # both units retransmit several times: no receipt, no second incident, no second fault
    wait_until(lambda: retransmitted(a, ev, 6) and retransmitted(b, ev_b, 4), 30, "retransmits")
    assert rig.receipts("spreekkamer-1") == [] and rig.receipts("balie-1") == []
    assert a.receipt_for(ev.event_id) is None and b.receipt_for(ev_b.event_id) is None
    assert rig.console.proc is not None and rig.console.proc.poll() is None, rig.console.log()
    log = rig.console.log()
    assert "CANNOT STORE" in log and "Traceback" not in log and "cannot rollback" not in log, log
    for person in (*FACILITIES, *LEADS):
        assert len(rig.store_faults(person)) == 1, (person, rig.store_faults(person))
    assert rig.query("SELECT count(*) FROM received") == [(0,)]  # nothing of it is on disk yet
    assert rig.query("SELECT count(*) FROM incidents") == [(0,)]
    level1_before = Counter((n.level, n.reason) for n in alarm_pages(rig.seen, "an", incident))

    # space returns: everything held is stored and receipted, once
    filler.unlink()
    wait_until(lambda: a.receipt_for(ev.event_id) is not None, 20, "the receipt after space returned")
    wait_until(lambda: b.receipt_for(ev_b.event_id) is not None, 20, "the second unit's receipt")
    for person in FACILITIES:
        wait_until(lambda p=person: bool(rig.store_recovered(p)), 10, f"'stores again' to {person}")
    ra = a.receipt_for(ev.event_id)
    assert ra is not None and ra.incident_id == incident and not ra.duplicate
    assert [r.event_id for r in rig.receipts("spreekkamer-1") if not r.duplicate] == [ev.event_id]
    assert [r.event_id for r in rig.receipts("balie-1") if not r.duplicate] == [ev_b.event_id]

    # one incident per press, each event stored once, the fault itself on record
    rows = rig.query("SELECT unit_id, count(*) FROM incidents GROUP BY unit_id ORDER BY unit_id")
    assert rows == [("balie-1", 1), ("spreekkamer-1", 1)]
    assert rig.query("SELECT incident_id FROM incidents WHERE unit_id = 'spreekkamer-1'") == [(incident,)]
    assert rig.query("SELECT count(*) FROM received") == [(2,)]
    assert rig.query("SELECT count(*) FROM events WHERE kind = 'alarm_received'") == [(2,)]
    stored = rig.query("SELECT data FROM events WHERE kind = 'notified' AND data LIKE '%store_fault%'")
    assert len(stored) == 1
    # the lead was not paged again for a level already paged from memory
    pages = alarm_pages(rig.seen, "an", incident)
    per_level = Counter((n.level, n.reason) for n in pages)
    assert per_level[(1, NotifyReason.ALARM)] == 1 and level1_before[(1, NotifyReason.ALARM)] == 1, pages
    assert all(c == 1 for c in per_level.values()), per_level
    assert len({n.notification_id for n in pages}) == len(pages)
    assert rig.console.proc is not None and rig.console.proc.poll() is None


def test_restart_while_the_disk_is_full_starts_degraded_and_the_log_stays_the_truth(rig: Rig) -> None:
    a = rig.unit("spreekkamer-1")
    first = a.press()
    wait_until(lambda: a.receipt_for(first.event_id) is not None, 15, "a receipt before the disk fills")
    r1 = a.receipt_for(first.event_id)
    assert r1 is not None and r1.incident_id is not None
    filler = rig.db.parent / "filler"
    fill(filler)
    b = rig.unit("balie-1")
    ev = b.press()
    wait_until(
        lambda: any(
            "niet opgeslagen" in n.body for n in rig.notes("chris") if n.reason is NotifyReason.ALARM
        ),
        15,
        "the page from memory",
    )
    rig.console.kill()  # kill -9 while degraded: what was held in memory is gone
    rig.console.start()  # the disk is still full
    rig.console.wait_ready()
    wait_until(lambda: "CANNOT STORE" in rig.console.log(), 15, "degraded mode after the restart")
    wait_until(lambda: retransmitted(b, ev, 4), 30, "retransmits to the restarted service")
    assert b.receipt_for(ev.event_id) is None
    filler.unlink()
    wait_until(lambda: b.receipt_for(ev.event_id) is not None, 20, "the receipt after space returned")
    # the log is the truth: the incident stored before the disk filled, plus one for the held press
    rows = rig.query("SELECT incident_id, unit_id FROM incidents ORDER BY incident_id")
    assert [u for _i, u in rows] == ["spreekkamer-1", "balie-1"], rows
    assert rows[0][0] == r1.incident_id
    rb = b.receipt_for(ev.event_id)
    assert rb is not None and rb.incident_id == rows[1][0]
    assert rig.query("SELECT count(*) FROM received WHERE event_id = ?", str(ev.event_id)) == [(1,)]
    assert "Traceback" not in rig.console.log()
