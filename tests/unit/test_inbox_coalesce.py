"""The writer's coalescing: heartbeats and delivery outcomes wait briefly for company, anything
else ends the wait at once, and a due timer is never delayed by it (no timing asserted: the
queue is filled before the call)."""

from __future__ import annotations

import queue
import time

from stilalarm.console.ingest import Raw
from stilalarm.console.shell.inbox import can_wait, coalesce

HB = Raw("stilalarm/v1/s/unit/balie-1/heartbeat", b"{}")
HB2 = Raw("stilalarm/v1/s/unit/balie-2/heartbeat", b"{}")
ALARM = Raw("stilalarm/v1/s/unit/balie-3/event", b"{}")


def _inbox(*items: object) -> queue.SimpleQueue[object]:
    q: queue.SimpleQueue[object] = queue.SimpleQueue()
    for i in items:
        q.put(i)
    return q


def test_heartbeats_take_company_and_an_alarm_ends_the_wait() -> None:
    q = _inbox(HB2, HB, ALARM, HB2)
    items: list[object] = [HB]
    coalesce(q, items, 100, None)
    assert items == [HB, HB2, HB, ALARM]  # the alarm is taken along and ends the wait
    assert q.qsize() == 1  # what came after it waits for the next batch


def test_an_alarm_batch_does_not_wait() -> None:
    q = _inbox(HB)
    items: list[object] = [ALARM]
    coalesce(q, items, 100, None)
    assert items == [ALARM] and q.qsize() == 1


def test_a_due_timer_is_not_delayed() -> None:
    q = _inbox(HB2)
    items: list[object] = [HB]
    coalesce(q, items, 100, time.monotonic() - 1.0)  # a level fell due already
    assert items == [HB] and q.qsize() == 1


def test_the_batch_limit_holds() -> None:
    q = _inbox(HB2, HB2, HB2)
    items: list[object] = [HB]
    coalesce(q, items, 2, None)
    assert len(items) == 2 and q.qsize() == 2


def test_what_may_wait() -> None:
    assert can_wait(HB) and not can_wait(ALARM)
    assert not can_wait(Raw("stilalarm/v1/s/unit/balie-1/status", b"{}"))
