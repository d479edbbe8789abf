"""The console lease core (pure): time is passed in, nothing sleeps."""

from __future__ import annotations

import pytest

from stilalarm.console.core.lease import (
    Activate,
    Deactivate,
    Failed,
    Lease,
    LeaseTimes,
    Observed,
    Pause,
    Read,
    Refused,
    Resume,
    Role,
    Tick,
    Write,
    Wrote,
    acting,
    next_due,
    step,
)

pytestmark = pytest.mark.unit
T = LeaseTimes(ttl_s=3.0, renew_every_s=0.75, read_every_s=0.25, margin_s=0.5, retry_s=0.2)


def active(me: str = "a", now: float = 0.0) -> Lease:
    lease = Lease(me, T)
    lease, effs = step(lease, Tick(), now)
    assert effs == [Read()]
    lease, effs = step(lease, Observed(0, ""), now)
    assert effs == [Write(me, 0, 0)]
    lease, effs = step(lease, Wrote(7), now)
    assert effs == [Activate(7)]
    return lease


def test_a_missing_entry_is_acquired_at_once() -> None:
    lease = active()
    assert lease.role is Role.ACTIVE and lease.term == 7
    assert acting(lease, 0.1) and acting(lease, 2.49) and not acting(lease, 2.5)


def test_a_held_entry_is_taken_only_after_ttl_without_change() -> None:
    b = Lease("b", T)
    b, effs = step(b, Tick(), 10.0)
    assert effs == [Read()]
    b, effs = step(b, Observed(5, "a"), 10.0)
    assert effs == []
    now = 10.0
    while now < 12.5:  # the revision does not change, but ttl has not passed
        now += 0.25
        b, effs = step(b, Tick(), now)
        if effs == [Read()]:
            b, effs = step(b, Observed(5, "a"), now)
        assert not any(isinstance(e, Write) for e in effs), now
    b, effs = step(b, Tick(), 13.0)
    b, effs = step(b, Observed(5, "a"), 13.0)
    assert effs == [Write("b", 5, 0)]
    b, effs = step(b, Wrote(6), 13.1)
    assert effs == [Activate(6)] and acting(b, 13.1)


def test_a_changing_revision_keeps_the_standby_waiting() -> None:
    b = Lease("b", T)
    now, rev = 0.0, 1
    for _ in range(100):  # the active renews: the revision moves, so the standby never writes
        now += 0.25
        rev += 1
        b, effs = step(b, Tick(), now)
        if Read() in effs:
            b, effs = step(b, Observed(rev, "a"), now)
        assert not any(isinstance(e, Write) for e in effs)
    assert b.role is Role.STANDBY


def test_the_active_renews_and_stays_valid_from_the_send_time() -> None:
    a = active()
    a, effs = step(a, Tick(), 0.75)
    assert effs == [Write("a", 7, 7)]
    a, effs = step(a, Wrote(8), 1.5)  # a slow answer: valid from when it was sent
    assert a.valid_until == pytest.approx(0.75 + 3.0 - 0.5)
    assert a.revision == 8 and a.term == 7


def test_renewals_that_get_no_answer_pause_before_a_standby_can_take_it() -> None:
    a = active()  # wrote at 0.0: a standby that read the new revision at >= 0.0 waits until >= 3.0
    now = 0.0
    paused_at = None
    while now < 4.0 and paused_at is None:
        now = round(now + 0.05, 2)
        a, effs = step(a, Tick(), now)
        if any(isinstance(e, Write) for e in effs):
            a, effs2 = step(a, Failed("timeout"), now)
            effs += effs2
        if any(isinstance(e, Pause) for e in effs):
            paused_at = now
    assert paused_at is not None and paused_at <= 3.0 - T.margin_s
    assert a.role is Role.ACTIVE and not acting(a, paused_at)


def test_a_paused_active_resumes_when_its_renewal_is_stored() -> None:
    """A leader election of the lease's stream (4-9 s in nats-server 2.9): nobody can write the
    entry; the active's first renewal after it names the same revision, so nobody acted between."""
    a = active()
    now = 0.0
    effs: list[object] = []
    while now < 8.0:
        now = round(now + 0.2, 2)
        a, effs = step(a, Tick(), now)
        if any(isinstance(e, Write) for e in effs):
            a, _ = step(a, Failed("no responders"), now)
    assert a.paused and not acting(a, now)
    a, effs = step(a, Tick(), now + 0.2)
    assert effs == [Write("a", 7, 7)]  # still the revision it last wrote
    a, effs = step(a, Wrote(8), now + 0.25)
    assert effs == [Resume(7)]
    assert acting(a, now + 0.3) and a.term == 7


def test_a_refused_renewal_reads_and_deactivates_when_another_holds_it() -> None:
    a = active()
    a, effs = step(a, Tick(), 0.75)
    a, effs = step(a, Refused(), 0.8)
    assert effs == [Read()]
    a, effs = step(a, Observed(9, "b"), 0.82)
    assert effs == [Deactivate(7, "another console took the lease")]
    assert not acting(a, 0.82) and a.role is Role.STANDBY


def test_a_refused_renewal_of_its_own_late_write_carries_on() -> None:
    """A renewal that timed out was stored later; the next one, naming the older revision, is
    refused: the entry still names this console, so it renews from the stored revision."""
    a = active()
    a, _ = step(a, Tick(), 0.75)
    a, _ = step(a, Failed("timeout"), 0.9)  # stored anyway as revision 8
    a, effs = step(a, Tick(), 1.1)
    assert effs == [Write("a", 7, 7)]
    a, effs = step(a, Refused(), 1.15)
    assert effs == [Read()]
    a, effs = step(a, Observed(8, "a"), 1.2)
    assert effs == [Write("a", 8, 7)]
    a, effs = step(a, Wrote(9), 1.25)
    assert a.role is Role.ACTIVE and acting(a, 1.3) and a.revision == 9


def test_a_standby_counts_again_after_the_cluster_did_not_answer() -> None:
    b = Lease("b", T)
    b, _ = step(b, Tick(), 0.0)
    b, _ = step(b, Observed(5, "a"), 0.0)
    b, effs = step(b, Tick(), 3.0)
    b, effs = step(b, Observed(5, "a"), 3.0)
    assert effs == [Write("b", 5, 0)]
    b, effs = step(b, Failed("no responders"), 3.1)  # the lease's stream is electing a leader
    b, effs = step(b, Tick(), 3.35)
    assert effs == [Read()]
    b, effs = step(b, Observed(5, "a"), 3.35)
    assert effs == []  # a full ttl again: the active renews as soon as the election is over


def test_a_lost_acquire_race_waits_a_full_ttl_again() -> None:
    b = Lease("b", T)
    b, _ = step(b, Tick(), 0.0)
    b, effs = step(b, Observed(0, ""), 0.0)
    assert effs == [Write("b", 0, 0)]
    b, effs = step(b, Refused(), 0.1)
    assert b.role is Role.STANDBY
    assert effs == [Read()]
    b, effs = step(b, Observed(3, "c"), 0.1)
    assert effs == []
    b, effs = step(b, Tick(), 2.0)
    b, effs = step(b, Observed(3, "c"), 2.0)
    assert effs == []


def test_a_stopped_active_wakes_up_paused_and_asks_before_acting() -> None:
    """SIGSTOP: nothing happens for 10 s; after SIGCONT it acts no more until a renewal is stored
    (here refused: the standby took over, so it steps down)."""
    a = active()
    a, effs = step(a, Tick(), 10.0)
    assert [type(e) for e in effs] == [Pause, Write]
    assert not acting(a, 10.0)
    a, effs = step(a, Refused(), 10.01)
    a, effs = step(a, Observed(12, "b"), 10.02)
    assert [type(e) for e in effs] == [Deactivate]


def test_next_due_is_the_renewal_or_the_end_of_validity() -> None:
    a = active()
    assert next_due(a) == pytest.approx(0.75)


def test_a_released_lease_is_taken_at_once() -> None:
    b = Lease("b", T)
    b, _ = step(b, Tick(), 0.0)
    b, effs = step(b, Observed(9, "a"), 0.0)
    assert effs == []
    b, effs = step(b, Tick(), 0.25)
    b, effs = step(b, Observed(10, ""), 0.25)  # a stopped cleanly and wrote the lease free
    assert effs == [Write("b", 10, 0)]


def test_a_value_that_is_not_ours_is_not_a_release() -> None:
    b = Lease("b", T)
    b, _ = step(b, Tick(), 0.0)
    b, effs = step(b, Observed(9, "?"), 0.0)
    assert effs == []
