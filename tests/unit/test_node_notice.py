"""A silent broker node as facilities read it (console/shell/inbox.py `node_notice`), nl and en."""

from __future__ import annotations

from datetime import UTC, datetime

from stilalarm.console.core.effects import Notify
from stilalarm.console.core.nodes import NodeBack, NodeSilent
from stilalarm.console.shell.inbox import NodeNotice, node_notice
from stilalarm.console.texts import notice_text
from stilalarm.devkit.servicerun import FAST_SITE
from stilalarm.inventory.kinds import Language
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import NotifyReason

SITE = parse_site(FAST_SITE)
NOW = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)


def told(effect: NodeSilent | NodeBack) -> tuple[Notify, tuple[str, str], tuple[str, str]]:
    (n,) = [e for e in node_notice(SITE, NodeNotice(effect), NOW) if isinstance(e, Notify)]
    nl = notice_text(SITE, n.notice.text_key, n.notice.detail, Language.NL)
    en = notice_text(SITE, n.notice.text_key, n.notice.detail, Language.EN)
    assert nl is not None and en is not None
    return n, nl, en


def test_a_silent_node_goes_to_facilities_with_what_still_works() -> None:
    n, nl, en = told(
        NodeSilent("10.0.0.3:1883", 61.6, "no CONNACK within 5 s", ("10.0.0.1:1883", "10.0.0.2:1883"))
    )
    assert n.notice.person_ids == ("fien", "gert") and n.notice.reason is NotifyReason.FAULT
    assert nl[0] == "STORING alarmcentrale: brokernode 10.0.0.3:1883 antwoordt niet"
    assert "al 62 s geen verbinding meer (no CONNACK within 5 s)" in nl[1]
    assert "(10.0.0.1:1883, 10.0.0.2:1883)" in nl[1] and "Laat IT deze node meteen nakijken" in nl[1]
    assert en[0] == "FAULT alarm console: broker node 10.0.0.3:1883 not answering"
    assert "if one more node fails, no alarm gets through at all" in en[1]


def test_back_is_information() -> None:
    n, nl, en = told(NodeBack("10.0.0.3:1883"))
    assert n.notice.reason is NotifyReason.INFO
    assert nl[0] == "Hersteld: brokernode 10.0.0.3:1883 antwoordt weer"
    assert en[0] == "Recovered: broker node 10.0.0.3:1883 answers again"
