"""One escalation reaches a lead on every channel at once: console and pager (mosquitto), e-mail
(aiosmtpd), chat (Apprise JSON webhook), through `build_dispatcher` as the service uses it."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from stilalarm.console.delivery.channel import DeliveryOutcome
from stilalarm.console.delivery.dispatcher import build_dispatcher
from stilalarm.inventory.model import Site
from stilalarm.wire.link import Link
from stilalarm.wire.messages import Notification, NotifyReason, PageCmd, parse, parse_unit_command, utcnow
from stilalarm.wire.topics import Topics
from tests.e2e.test_delivery_peers import HOOK_TOKEN, Inbox, smtp_cfg, smtp_server
from tests.harness import Capture, wait_until
from tests.peers import Hook
from tests.unit.test_delivery_support import note, site_with


def test_level_three_reaches_pager_mail_and_chat(
    site: Site,
    topics: Topics,
    link: Callable[..., Link],
    capture: Callable[..., Capture],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FANOUT_HOOK_TOKEN", HOOK_TOKEN)
    inbox, hook = Inbox(), Hook()
    smtp = smtp_server(inbox)
    target = {"url": f"json://127.0.0.1:{hook.port}/alarm/{{secret}}", "secret": "env:FANOUT_HOOK_TOKEN"}
    fsite = site_with(
        site, smtp=smtp_cfg(smtp.port), people={"an": {"email": "an@example.org", "apprise": [target]}}
    )
    console = link("console")
    cap = capture(topics.unit_cmd("pager-an"), topics.person_notify("an"))
    outcomes: list[DeliveryOutcome] = []
    lock = threading.Lock()

    def record(o: DeliveryOutcome) -> None:
        with lock:
            outcomes.append(o)

    d, _console_channel, pager = build_dispatcher(fsite, console, on_outcome=record)
    assert pager is not None  # the site has lead pager units: the pager channel is live
    level_1 = note("an", level=1)
    level_3 = note("an", reason=NotifyReason.ESCALATION, level=3, call_101=True, evacuate="Wachtzaal")
    try:
        for n in (level_1, level_3):  # as the service does for a Notify and the engine's Page effects
            d.deliver(n)  # level 1: the console only; level 3: console, e-mail and chat
            d.submit(pager.page("pager-an", "inc-20250303-001", n.level, utcnow()))
        wait_until(lambda: len(outcomes) == 6, what="six deliveries")
    finally:
        d.stop()
        smtp.stop()
        hook.close()
    assert sorted((o.channel, o.status.value) for o in outcomes) == [
        ("apprise", "delivered"),
        ("email", "delivered"),
        ("mqtt", "delivered"),
        ("mqtt", "delivered"),
        ("pager", "delivered"),
        ("pager", "delivered"),
    ]
    notes = [parse(Notification, p) for p in cap.on(topics.person_notify("an"))]
    assert [n.notification_id for n in notes] == [level_1.notification_id, level_3.notification_id]
    levels = [
        c.level
        for c in map(parse_unit_command, cap.on(topics.unit_cmd("pager-an")))
        if isinstance(c, PageCmd)
    ]
    assert levels == [1, 3]
    [msg] = inbox.messages
    assert "BEL 101" in msg["Subject"] and "Evacueer de wachtzaal (Wachtzaal)." in msg.get_content()
    [(path, payload)] = hook.posts
    assert path == f"/alarm/{HOOK_TOKEN}" and "Bel 101." in payload["message"]
