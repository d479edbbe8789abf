"""The pager channel through a real mosquitto: PageCmd at the level, level 0 on acknowledgement."""

from __future__ import annotations

import threading
from collections.abc import Callable

from console.fanout import DeliveryOutcome, Dispatcher, OutcomeStatus, PagerChannel
from inventory.model import Site
from tests.harness import Capture, wait_until
from tests.unit.test_fanout_support import note
from wire.link import Link
from wire.messages import NotifyReason, PageCmd, parse_unit_command
from wire.topics import Topics


def test_lead_pager_is_signalled_and_silenced(
    site: Site, topics: Topics, link: Callable[..., Link], capture: Callable[..., Capture]
) -> None:
    console = link("console")
    cap = capture(topics.unit_cmd("+"))
    outcomes: list[DeliveryOutcome] = []
    lock = threading.Lock()

    def record(o: DeliveryOutcome) -> None:
        with lock:
            outcomes.append(o)

    d = Dispatcher(site, [PagerChannel(site, lambda t, p: console.publish(t, p))], on_outcome=record)
    try:
        alarm = note("an", level=1)
        d.submit(alarm)
        [raw] = cap.wait_for(topics.unit_cmd("pager-an"))
        cmd = parse_unit_command(raw)
        assert isinstance(cmd, PageCmd)
        assert (cmd.unit_id, cmd.incident_id, cmd.level) == ("pager-an", alarm.incident_id, 1)
        wait_until(lambda: len(outcomes) == 1, what="pager outcome")
        assert outcomes[0].status is OutcomeStatus.DELIVERED  # after the broker's PUBACK

        d.submit(note("an", reason=NotifyReason.ESCALATION, level=3, call_101=True))
        d.submit(note("an", reason=NotifyReason.ACKNOWLEDGED, level=0))
        cmds = [parse_unit_command(p) for p in cap.wait_for(topics.unit_cmd("pager-an"), n=3)]
        assert [c.level for c in cmds if isinstance(c, PageCmd)] == [1, 3, 0]

        # No pager unit, or nothing to page (a reminder): the pager channel does not apply.
        d.submit(note("bart", level=1))
        d.submit(note("an", reason=NotifyReason.REMINDER, level=0))
        d.submit(note("chris", level=1))
        wait_until(lambda: len(cap.on(topics.unit_cmd("pager-chris"))) == 1, what="chris paged")
    finally:
        d.stop()
    assert len(cap.on(topics.unit_cmd("pager-an"))) == 3
    assert {o.person_id for o in outcomes} == {"an", "chris"}
    assert all(o.status is OutcomeStatus.DELIVERED for o in outcomes)
