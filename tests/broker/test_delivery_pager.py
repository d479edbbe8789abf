"""The pager channel through a real mosquitto: PageCmd at the level, level 0 to silence, PUBACK-confirmed."""

from __future__ import annotations

import threading
from collections.abc import Callable

from stilalarm.console.delivery.channel import Delivery, DeliveryOutcome, OutcomeStatus
from stilalarm.console.delivery.dispatcher import Dispatcher
from stilalarm.console.delivery.mqtt import PagerChannel
from stilalarm.inventory.model import Site
from stilalarm.wire.link import Link
from stilalarm.wire.messages import NotifyReason, PageCmd, parse_unit_command, utcnow
from stilalarm.wire.topics import Topics
from tests.harness import Capture, wait_until
from tests.unit.test_delivery_support import note

INC = "inc-20250303-001"


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

    pager = PagerChannel(site, console, topics)
    d = Dispatcher(site, [pager], on_outcome=record)

    def page(unit: str, level: int, *, now: bool = True) -> Delivery:
        """As the service does for the engine's Page effect: publish now, the worker confirms."""
        item = pager.page(unit, INC, level, utcnow())
        if now:
            pager.send_now(item)
        d.submit(item)
        return item

    try:
        first = page("pager-an", 1)
        [raw] = cap.wait_for(topics.unit_cmd("pager-an"))
        cmd = parse_unit_command(raw)
        assert isinstance(cmd, PageCmd)
        assert (cmd.unit_id, cmd.incident_id, cmd.level) == ("pager-an", INC, 1)
        assert cmd.cmd_id == first.notification_id
        wait_until(lambda: len(outcomes) == 1, what="pager outcome")
        assert outcomes[0].status is OutcomeStatus.DELIVERED  # after the broker's PUBACK
        assert (outcomes[0].person_id, outcomes[0].incident_id) == ("an", INC)  # the pager's lead

        page("pager-an", 3)
        page("pager-an", 0)
        cmds = [parse_unit_command(p) for p in cap.wait_for(topics.unit_cmd("pager-an"), n=3)]
        assert [c.level for c in cmds if isinstance(c, PageCmd)] == [1, 3, 0]

        # What to page is the engine's (Page effects): a notification, even an alarm, never pages.
        assert d.route(note("an", level=1)) == []
        assert d.route(note("an", reason=NotifyReason.REMINDER, level=0)) == []
        page("pager-chris", 1, now=False)  # not published by the writer: the worker publishes it
        wait_until(lambda: len(cap.on(topics.unit_cmd("pager-chris"))) == 1, what="chris paged")
        wait_until(lambda: len(outcomes) == 4, what="four pager outcomes")
    finally:
        d.stop()
    assert len(cap.on(topics.unit_cmd("pager-an"))) == 3
    assert len(cap.on(topics.unit_cmd("pager-chris"))) == 1  # published once, however it was sent
    assert {o.person_id for o in outcomes} == {"an", "chris"}
    assert all(o.status is OutcomeStatus.DELIVERED for o in outcomes)
