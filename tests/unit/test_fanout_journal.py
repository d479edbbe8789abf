"""The fan-out process's attempt journal (a real SQLite file) and the numbering it gives the
dispatcher's attempts, on a fake clock and fake channels: attempt ids never repeat across a
restart, interrupted attempts are reported failed and do not use up the retry budget."""

from __future__ import annotations

import uuid
from pathlib import Path

from stilalarm.console.delivery.channel import Delivery, OutcomeStatus
from stilalarm.console.delivery.dispatcher import Dispatcher
from stilalarm.console.delivery.journal import INTERRUPTED, Journal, JournaledChannel, journal_path
from stilalarm.inventory.model import Site
from stilalarm.inventory.people import ChannelKind
from tests.unit.test_delivery_dispatcher import Record
from tests.unit.test_delivery_support import FakeChannel, FakeClock, note, site_with

D, F, G = OutcomeStatus.DELIVERED, OutcomeStatus.FAILED, OutcomeStatus.GAVE_UP


class Ids(FakeChannel):
    """Remembers the attempt id of every send."""

    def __init__(self, script: list[str]) -> None:
        super().__init__(ChannelKind.EMAIL, script)
        self.ids: list[str] = []

    def send(self, item: Delivery) -> None:
        self.ids.append(item.attempt_id)
        super().send(item)


def test_the_journal_sits_beside_the_console_database() -> None:
    assert journal_path(Path("/var/lib/stilalarm/console.db")) == Path("/var/lib/stilalarm/console.fanout.db")


def test_an_interrupted_attempt_is_reported_failed_and_the_next_gets_the_next_number(
    tmp_path: Path, site: Site
) -> None:
    clock = FakeClock()
    n = note("an", level=3)
    item = Delivery(n.notification_id, "email", "an", "an@example.org", b"{}", n.incident_id)
    key = (n.notification_id, "email")
    j = Journal(tmp_path / "j.db")
    j.started(item, 1, clock.now())
    j.close()  # a crash: attempt 1 has no outcome

    j = Journal(tmp_path / "j.db")
    [o] = j.recover(clock.now())
    assert (o.attempt, o.status, o.reason, o.incident_id) == (1, F, INTERRUPTED, n.incident_id)
    assert j.recover(clock.now()) == []  # reported once
    h = j.history(key)
    assert (h.last, h.interrupted, h.final) == (1, 1, None)

    inner = Ids(["transient", "ok"])
    ch = JournaledChannel(inner, j, clock)
    ch.resume(key, h.last)
    fsite = site_with(site, delivery={"attempts": 2, "backoff_s": 1, "fault_after_failures": 5})
    rec = Record()
    d = Dispatcher(fsite, [ch], on_outcome=rec.outcome, clock=clock, start=False)
    d.submit(item, attempts_made=h.last, not_counted=h.interrupted)
    d.pump()
    clock.advance(1)
    d.pump()
    # attempts 2 and 3: the interrupted one keeps its number but not its place in the budget of 2
    assert rec.trail() == [("email", 2, F), ("email", 3, D)]
    assert inner.ids == [f"{n.notification_id}/2", f"{n.notification_id}/3"]
    for out in rec.outcomes:
        j.outcome(out)
    h = j.history(key)
    assert h.last == 3 and h.final is not None and h.final.status is D and h.final.attempt == 3
    j.close()


def test_only_the_uncounted_interrupted_attempts_extend_the_budget(tmp_path: Path, site: Site) -> None:
    clock = FakeClock()
    j = Journal(tmp_path / "j.db")
    inner = Ids(["transient"] * 5)
    ch = JournaledChannel(inner, j, clock)
    fsite = site_with(site, delivery={"attempts": 2, "backoff_s": 1, "fault_after_failures": 5})
    rec = Record()
    d = Dispatcher(fsite, [ch], on_outcome=rec.outcome, clock=clock, start=False)
    nid = uuid.uuid4()
    item = Delivery(nid, "email", "an", "an@example.org", b"{}")
    ch.resume((nid, "email"), 5)
    d.submit(item, attempts_made=5, not_counted=4)  # four of five not counted: one more try, then give up
    d.pump()
    assert rec.trail() == [("email", 6, F), ("email", 6, G)]
    assert inner.ids == [f"{nid}/6"]
    j.close()
