"""The durable outbox: append, reopen, receipt, sequence numbers, the bound."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from stilalarm.firmware.outbox import Outbox, OutboxError
from stilalarm.wire.messages import EventKind, FaultKind, UnitEvent, new_id, utcnow

BOOT = uuid.uuid4()


def make(
    kind: EventKind = EventKind.ALARM, unit: str = "balie-1", **kw: object
) -> Callable[[int], UnitEvent]:
    def build(seq: int) -> UnitEvent:
        now = utcnow()
        fields: dict[str, object] = {"button_id": "knop"}
        if kind in (EventKind.FAULT, EventKind.FAULT_CLEARED):
            fields = {"button_id": "knop", "fault": FaultKind.CUT}
        fields.update(kw)
        return UnitEvent.model_validate(
            {
                "event_id": new_id(),
                "unit_id": unit,
                "kind": kind,
                "seq": seq,
                "boot_id": BOOT,
                "occurred_at": now,
                "sent_at": now,
                **fields,
            }
        )

    return build


def test_append_is_on_disk_and_survives_reopen(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite")
    ev = ob.append("balie-1", make()).event
    ob.close()  # (a crash would leave the same committed state: WAL + synchronous=FULL)
    again = Outbox(tmp_path / "o.sqlite")
    assert [s.event for s in again.pending("balie-1")] == [ev]
    assert again.depth("balie-1") == 1


def test_durability_pragmas(tmp_path: Path) -> None:
    Outbox(tmp_path / "o.sqlite").append("balie-1", make())
    db = sqlite3.connect(tmp_path / "o.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    ob = Outbox(tmp_path / "o.sqlite")
    assert ob._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_receipt_removes_only_that_event(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite")
    a = ob.append("balie-1", make()).event
    b = ob.append("balie-1", make()).event
    assert ob.receipt("balie-1", a.event_id) == a
    assert ob.receipt("balie-1", a.event_id) is None  # twice: unknown now
    assert ob.receipt("balie-2", b.event_id) is None  # another unit's receipt does not remove it
    assert [s.event.event_id for s in ob.pending("balie-1")] == [b.event_id]


def test_seq_is_monotonic_across_reopen_even_when_empty(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite")
    seqs = [ob.append("balie-1", make()).event.seq for _ in range(3)]
    for s in ob.pending("balie-1"):
        ob.receipt("balie-1", s.event.event_id)
    ob.close()
    ob = Outbox(tmp_path / "o.sqlite")
    assert ob.depth("balie-1") == 0
    seqs.append(ob.append("balie-1", make()).event.seq)
    assert seqs == [1, 2, 3, 4]


def test_units_share_a_file_with_their_own_sequences(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite")
    ob.append("a", make(unit="a"))
    ob.append("a", make(unit="a"))
    ev = ob.append("b", make(unit="b")).event
    assert ev.seq == 1
    assert ob.depth("a") == 2 and ob.depth("b") == 1


def test_attempts_are_remembered(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite")
    ev = ob.append("balie-1", make()).event
    ob.mark_sent(ev.event_id, 3)
    ob.close()
    assert [s.attempts for s in Outbox(tmp_path / "o.sqlite").pending("balie-1")] == [3]


def test_a_failed_build_stores_nothing_and_uses_no_seq(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite")

    def bad(seq: int) -> UnitEvent:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        ob.append("balie-1", bad)
    assert ob.depth("balie-1") == 0
    assert ob.append("balie-1", make()).event.seq == 1


def test_bound_never_drops_unreceipted_alarms_or_tests(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite", max_pending=5)
    for _ in range(8):
        ob.append("balie-1", make(EventKind.ALARM))
    ob.append("balie-1", make(EventKind.TEST, campaign_id="c-1"))
    for _ in range(4):
        ob.append("balie-1", make(EventKind.FAULT))
    kinds = [s.event.kind for s in ob.pending("balie-1")]
    assert kinds.count(EventKind.ALARM) == 8
    assert kinds.count(EventKind.TEST) == 1
    assert kinds.count(EventKind.FAULT) == 1  # coalesced: only the newest fault of that input


def test_bound_coalesces_per_input_and_fault_kind_only_above_the_limit(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite", max_pending=3)
    ob.append("balie-1", make(EventKind.FAULT))
    ob.append("balie-1", make(EventKind.FAULT_CLEARED))
    assert ob.depth("balie-1") == 2  # under the limit: nothing coalesced
    ob.append("balie-1", make(EventKind.FAULT, fault=FaultKind.TAMPER, button_id=None))
    res = ob.append("balie-1", make(EventKind.FAULT))
    assert len(res.coalesced) == 2  # the two older CUT events of button knop
    left = [(s.event.kind, s.event.fault) for s in ob.pending("balie-1")]
    assert left == [(EventKind.FAULT, FaultKind.TAMPER), (EventKind.FAULT, FaultKind.CUT)]


def test_unwritable_location_says_what_to_check(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutboxError, match="check that the state directory is writable"):
        Outbox(tmp_path / "file" / "o.sqlite")


def _on_disk(path: Path, unit: str) -> list[int]:
    """What another process would read right now (a separate connection)."""
    db = sqlite3.connect(str(path))
    try:
        return [r[0] for r in db.execute("SELECT seq FROM events WHERE unit_id = ? ORDER BY seq", (unit,))]
    finally:
        db.close()


def test_a_batch_is_one_commit_at_its_end(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    ob = Outbox(path)
    with ob.batch():
        a = ob.append("balie-1", make()).event
        with ob.batch():  # nested: joins the outer one
            b = ob.append("balie-2", make(unit="balie-2")).event
        ob.mark_sent(a.event_id, 1)
        assert _on_disk(path, "balie-1") == []  # not yet committed
    assert _on_disk(path, "balie-1") == [1] and _on_disk(path, "balie-2") == [1]
    assert [s.attempts for s in ob.pending("balie-1")] == [1] and ob.pending("balie-2")[0].event == b
    ob.append("balie-1", make())  # outside a batch: its own commit again
    assert _on_disk(path, "balie-1") == [1, 2]


def test_a_failed_append_in_a_batch_takes_only_itself_back(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    ob = Outbox(path)

    def broken(seq: int) -> UnitEvent:
        raise ValueError("cannot build")

    with ob.batch():
        ob.append("balie-1", make())
        with pytest.raises(ValueError):
            ob.append("balie-1", broken)
        ob.append("balie-1", make())
    assert _on_disk(path, "balie-1") == [1, 2]  # the failed one took no sequence number


def test_an_exception_in_a_batch_stores_nothing_of_it(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    ob = Outbox(path)
    with pytest.raises(RuntimeError), ob.batch():
        ob.append("balie-1", make())
        raise RuntimeError("crash before the commit")
    assert _on_disk(path, "balie-1") == [] and ob.next_seq("balie-1") == 1
    ob.append("balie-1", make())
    assert _on_disk(path, "balie-1") == [1]
