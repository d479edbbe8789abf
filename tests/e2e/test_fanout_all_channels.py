"""One escalation reaches a lead on every channel at once: pager (mosquitto), e-mail (aiosmtpd),
chat (Apprise JSON webhook), through `build_dispatcher` as the service will use it."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from console.fanout import DeliveryOutcome, build_dispatcher
from inventory.model import Site
from tests.e2e.test_fanout_peers import HOOK_TOKEN, Inbox, smtp_cfg, smtp_server
from tests.harness import Capture, wait_until
from tests.peers import Hook
from tests.unit.test_fanout_support import note, site_with
from wire.link import Link
from wire.messages import NotifyReason, PageCmd, parse_unit_command
from wire.topics import Topics


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
    cap = capture(topics.unit_cmd("pager-an"))
    outcomes: list[DeliveryOutcome] = []
    lock = threading.Lock()

    def record(o: DeliveryOutcome) -> None:
        with lock:
            outcomes.append(o)

    d = build_dispatcher(fsite, publish=lambda t, p: console.publish(t, p), on_outcome=record)
    try:
        d.submit(note("an", level=1))  # level 1: the pager only
        d.submit(note("an", reason=NotifyReason.ESCALATION, level=3, call_101=True, evacuate="Wachtzaal"))
        wait_until(lambda: len(outcomes) == 4, what="four deliveries")
    finally:
        d.stop()
        smtp.stop()
        hook.close()
    assert sorted((o.channel, o.status.value) for o in outcomes) == [
        ("apprise", "delivered"),
        ("email", "delivered"),
        ("pager", "delivered"),
        ("pager", "delivered"),
    ]
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
