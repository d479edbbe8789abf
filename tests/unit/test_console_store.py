"""The store and the writer's group commit, in-process (no broker): idempotency, rebuild, order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from stilalarm.console.config import ServiceConfig
from stilalarm.console.core import world as core
from stilalarm.console.ingest import Raw
from stilalarm.console.shell.inbox import Outcome
from stilalarm.console.shell.service import ConsoleService
from stilalarm.console.store import Store
from stilalarm.devkit.servicerun import FAST_SITE
from stilalarm.inventory.load import parse_site
from stilalarm.wire.credentials import BrokerCredentials
from stilalarm.wire.messages import (
    AckCmd,
    EventKind,
    Heartbeat,
    LinkState,
    Receipt,
    UnitEvent,
    UnitStatus,
    encode,
    parse,
    utcnow,
)
from stilalarm.wire.topics import Topics

SITE = parse_site(FAST_SITE)
T = Topics(SITE.site.id)
CREDS = BrokerCredentials(site_id="fast", username="console", password="x" * 16, host="127.0.0.1", port=1)


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def __call__(
        self, topic: str, payload: bytes, qos: int = 1, retain: bool = False
    ) -> mqtt.MQTTMessageInfo:
        """Record it, and confirm it at once (the writer waits for its pages' PUBACKs: help_first)."""
        self.sent.append((topic, payload))
        info = mqtt.MQTTMessageInfo(len(self.sent))
        info._set_as_published()
        return info

    def on(self, topic: str) -> list[bytes]:
        return [p for t, p in self.sent if t == topic]


def service(tmp_path: Path) -> tuple[ConsoleService, Recorder]:
    svc = ConsoleService(
        ServiceConfig(site_path=Path("x"), db_path=tmp_path / "c.db"), SITE, CREDS, init=True
    )
    rec = Recorder()
    svc.link.publish = rec  # type: ignore[method-assign,assignment]
    svc.load()
    return svc, rec


def alarm(
    unit: str = "spreekkamer-1", kind: EventKind = EventKind.ALARM, event_id: uuid.UUID | None = None
) -> Raw:
    now = utcnow()
    ev = UnitEvent(
        event_id=event_id or uuid.uuid4(),
        unit_id=unit,
        kind=kind,
        button_id="knop",
        seq=1,
        boot_id=uuid.uuid4(),
        occurred_at=now,
        sent_at=now,
    )
    return Raw(T.unit_event(unit), encode(ev))


def ack(person: str, incident: str) -> Raw:
    cmd = AckCmd(cmd_id=uuid.uuid4(), person_id=person, issued_at=utcnow(), incident_id=incident)
    return Raw(T.person_cmd(person), encode(cmd))


def test_retransmitted_alarm_makes_one_incident_and_a_duplicate_receipt(tmp_path: Path) -> None:
    svc, rec = service(tmp_path)
    first = alarm()
    svc._process([first, first])  # twice in one batch
    svc._process([first])  # and again later
    store = svc.store
    assert len(store.incidents()) == 1
    receipts = [parse(Receipt, p) for p in rec.on(T.unit_receipt("spreekkamer-1"))]
    assert [r.duplicate for r in receipts] == [False, True, True]
    assert len({r.incident_id for r in receipts}) == 1
    # and after a restart too: the store remembers
    svc.store.close()
    svc2, rec2 = service(tmp_path)
    svc2._process([first])
    assert [parse(Receipt, p).duplicate for p in rec2.on(T.unit_receipt("spreekkamer-1"))] == [True]
    assert len(svc2.store.incidents()) == 1


def test_receipts_and_notifications_go_out_only_after_the_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc, rec = service(tmp_path)

    def broken(*_a: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(svc.store, "commit", broken)
    with pytest.raises(OSError):
        svc._process([alarm()])
    assert rec.sent == []  # nothing told to anybody: the unit will retransmit


def test_rebuild_from_the_log_equals_the_live_state_and_projections(tmp_path: Path) -> None:
    svc, _rec = service(tmp_path)
    boot = uuid.uuid4()
    status = UnitStatus(
        unit_id="balie-1", state=LinkState.ONLINE, boot_id=boot, reason="connected", at=utcnow()
    )
    svc._process([Raw(T.unit_status("balie-1"), encode(status)), alarm()])
    inc = svc.store.incidents()[0]["incident_id"]
    svc._process([alarm("balie-1"), alarm(), ack("an", inc), alarm("wachtzaal", EventKind.TEST)])
    svc._process(
        [
            ack("fien", inc),
            Raw(
                T.unit_status("balie-1"),
                encode(status.model_copy(update={"state": LinkState.OFFLINE, "reason": "lost"})),
            ),
        ]
    )
    live_incidents = svc.store.incidents()
    live_units = [{k: v for k, v in r.items() if k != "health"} for r in svc.store.units()]

    facts = list(svc.store.facts())
    rebuilt = core.rebuild(SITE, facts, svc.started_at)
    assert rebuilt.comparable() == svc.world.comparable()

    w, history = core.rebuild_with_history(SITE, facts, svc.started_at)
    svc.store.replace_projections(list(history.values()), w.units)
    assert sorted(svc.store.incidents(), key=str) == sorted(live_incidents, key=str)
    assert [{k: v for k, v in r.items() if k != "health"} for r in svc.store.units()] == live_units
    assert svc.store.rejects() == {}


def test_notifications_are_in_the_outbox_until_confirmed(tmp_path: Path) -> None:
    svc, _rec = service(tmp_path)
    svc._process([alarm()])
    (row,) = svc.store.undelivered()
    assert row.person_id == "an" and row.topic == T.person_notify("an")
    assert b"ALARM Spreekkamer 1" in row.payload
    # the console channel confirms; the writer records it in its next batch
    from stilalarm.console.delivery.channel import DeliveryOutcome, OutcomeStatus

    done = DeliveryOutcome(
        row.notification_id, None, row.person_id, row.channel, 1, OutcomeStatus.DELIVERED, "", utcnow()
    )
    svc._process([Outcome(done)])
    assert svc.store.undelivered() == []


def test_pages_go_out_after_the_commit_and_every_channel_reports_to_the_same_bookkeeping(
    tmp_path: Path,
) -> None:
    from stilalarm.console.delivery.channel import DeliveryOutcome, OutcomeStatus
    from stilalarm.console.facts import DeliveryAttempt
    from stilalarm.wire.messages import PageCmd, parse_unit_command

    svc, rec = service(tmp_path)
    svc._process([alarm()])
    [raw] = rec.on(T.unit_cmd("pager-an"))  # An's lead pager unit, published by the writer
    page = parse_unit_command(raw)
    assert isinstance(page, PageCmd) and page.level == 1
    assert svc.delivery.pending()["pager"] == 1  # and held by the pager channel until the PUBACK
    (row,) = svc.store.undelivered()
    at = utcnow()
    pager = DeliveryOutcome(page.cmd_id, page.incident_id, "an", "pager", 1, OutcomeStatus.DELIVERED, "", at)
    console = DeliveryOutcome(row.notification_id, None, "an", "mqtt", 1, OutcomeStatus.DELIVERED, "", at)
    before = len(list(svc.store.facts()))
    svc._process([Outcome(pager), Outcome(console)])
    new = list(svc.store.facts())[before:]
    # the pager's outcome is a delivery_attempt fact (in the timeline); the console's is its outbox row
    assert [(f.channel, f.status, f.incident_id) for f in new if isinstance(f, DeliveryAttempt)] == [
        ("pager", "delivered", page.incident_id)
    ]
    assert svc.store.undelivered() == []


def test_invalid_messages_are_counted_per_reason(tmp_path: Path) -> None:
    svc, _rec = service(tmp_path)
    hb = Heartbeat(
        unit_id="balie-1",
        boot_id=uuid.uuid4(),
        seq=1,
        sent_at=utcnow(),
        interval_s=1,
        uptime_s=1,
        outbox_depth=0,
        firmware_version="1",
        test_mode=False,
    )
    svc._process(
        [
            Raw(T.unit_event("balie-1"), b"{not json"),
            Raw(T.unit_event("balie-1"), b'{"v": 1, "hello": "world"}'),
            Raw(T.unit_heartbeat("wachtzaal"), encode(hb)),  # balie-1's heartbeat on wachtzaal's topic
            Raw(T.unit_event("ghost"), encode(hb)),
            Raw(T.unit_event("balie-1"), b"x" * 20000),
            alarm(),
        ]
    )
    assert svc.store.rejects() == {
        "invalid_json": 1,
        "invalid_schema": 1,
        "id_mismatch": 1,
        "unknown_unit": 1,
        "oversized": 1,
    }
    assert len(svc.store.incidents()) == 1  # the valid alarm in the same batch got through


def test_read_only_store_needs_an_existing_database(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="give --db"):
        Store(tmp_path / "nope.db", readonly=True)
    Store(tmp_path / "c.db", init=True).close()
    ro = Store(tmp_path / "c.db", readonly=True)
    assert ro.incidents() == [] and ro.fact_count() == 0


def test_started_at_is_utc() -> None:
    assert utcnow().tzinfo is not None and datetime.now(UTC).tzinfo is UTC


def test_a_bug_on_one_message_does_not_stop_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc, rec = service(tmp_path)
    real = core.step

    def buggy(w: core.World, inp: object, now: datetime) -> object:
        if getattr(getattr(inp, "event", None), "unit_id", None) == "wachtzaal":
            raise RuntimeError("bug")
        return real(w, inp, now)  # type: ignore[arg-type]

    monkeypatch.setattr("stilalarm.console.shell.service.core.step", buggy)
    svc._process([alarm("wachtzaal"), alarm("balie-1")])
    assert [r["unit_id"] for r in svc.store.incidents()] == ["balie-1"]
    assert rec.on(T.unit_receipt("wachtzaal")) == []  # not stored: no receipt, the unit retries
    assert len(rec.on(T.unit_receipt("balie-1"))) == 1
    assert svc.rejects.total["internal_error"] == 1


def test_the_store_never_creates_a_database_unless_told_to(tmp_path: Path) -> None:
    from stilalarm.console.store import StoreError, StoreMissing

    with pytest.raises(StoreMissing, match="db init"):
        Store(tmp_path / "new" / "c.db")
    assert not (tmp_path / "new").exists()
    (tmp_path / "empty.db").touch()
    with pytest.raises(StoreMissing, match="empty"):
        Store(tmp_path / "empty.db")
    Store(tmp_path / "empty.db", init=True).close()
    Store(tmp_path / "empty.db").close()  # now it is a console database
    (tmp_path / "junk.db").write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not a readable SQLite database"):
        Store(tmp_path / "junk.db", init=True)  # init never overwrites a file that holds something


def test_held_batches_merge_in_order_without_changing_either() -> None:
    from stilalarm.console.facts import UnitOffline, UnitOnline
    from stilalarm.console.store import Batch

    first = [
        UnitOnline(at=utcnow(), unit_id="balie-1"),
        UnitOffline(at=utcnow(), unit_id="balie-1", why="lost"),
        UnitOnline(at=utcnow(), unit_id="wachtzaal"),
    ]
    a = Batch(facts=first[:1], rejects={"x": 1}, units={"u": (1, None, None, "[]", "{}")})
    b = Batch(facts=first[1:], rejects={"x": 2, "y": 1}, units={"u": (0, None, None, "[]", "{}")})
    m = a.merged(b)
    assert m.facts == first and m.rejects == {"x": 3, "y": 1} and m.units["u"][0] == 0  # the later wins
    assert a.facts == first[:1] and a.rejects == {"x": 1} and a.units["u"][0] == 1
    assert b.facts == first[1:] and b.rejects == {"x": 2, "y": 1}


class ListLog:
    """The replicated log as a list (its real client is tested on real nodes:
    tests/broker/test_cluster_log.py); here only the store's side: what it appends and applies."""

    def __init__(self) -> None:
        self.records: list[bytes] = []

    def append(self, record: bytes) -> int:
        self.records.append(record)
        return len(self.records)


def dump(store: Store) -> dict[str, list[tuple[object, ...]]]:
    tables = ("events", "received", "incidents", "units", "outbox", "rejects")
    return {t: [tuple(r) for r in store.db.execute(f"SELECT * FROM {t} ORDER BY 1")] for t in tables}


def test_a_standby_applying_the_actives_records_has_the_same_database(tmp_path: Path) -> None:
    """Every commit of the active goes to the log first; a standby applying the records in order
    ends with the same rows (the log is the truth, each database its projection; docs/HA.md)."""
    svc, _rec = service(tmp_path)
    log = ListLog()
    svc.store.replica = log
    svc._process([alarm(), alarm("balie-1")])
    inc = svc.store.incidents()[0]["incident_id"]
    svc._process([ack("an", inc), Raw(T.unit_event("x"), b"not json"), alarm("wachtzaal", EventKind.TEST)])
    assert len(log.records) >= 2 and svc.store.log_seq() == len(log.records)
    standby = Store(tmp_path / "standby.db", init=True)
    for seq, record in enumerate(log.records, 1):
        standby.apply(seq, record)
    standby.apply(1, log.records[0])  # applied already: skipped
    assert standby.log_seq() == len(log.records)
    active = dump(svc.store)
    # the boot rows of `load()` were written before the replica was set: compare what the log carried
    assert dump(standby)["events"] == active["events"]
    assert dump(standby)["received"] == active["received"]
    assert dump(standby)["incidents"] == active["incidents"]
    assert dump(standby)["outbox"] == active["outbox"]
    assert dump(standby)["rejects"] == active["rejects"]


def test_a_record_of_another_version_is_refused_with_what_to_do(tmp_path: Path) -> None:
    from stilalarm.console.store.records import RecordError

    standby = Store(tmp_path / "standby.db", init=True)
    with pytest.raises(RecordError, match="same stilalarm version on every console"):
        standby.apply(1, b'{"v": 99}')
    with pytest.raises(RecordError, match="not JSON"):
        standby.apply(1, b"{")
    assert standby.log_seq() == 0
