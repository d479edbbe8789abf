"""The active console's notices about the cluster (console/shell/inbox.py `standby_notice` and
`node_notice`) as facilities read them, in Dutch and English."""

from __future__ import annotations

from datetime import UTC, datetime

from stilalarm.console.core.effects import Notify, SupEffect
from stilalarm.console.core.nodes import NodeBack, NodeSilent
from stilalarm.console.core.standbys import EnoughAgain, OlderStandby, TooFew
from stilalarm.console.shell.inbox import NodeNotice, StandbyNotice, node_notice, standby_notice
from stilalarm.console.texts import notice_text
from stilalarm.devkit.servicerun import FAST_SITE
from stilalarm.inventory.kinds import Language
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import NotifyReason

SITE = parse_site(FAST_SITE)
NOW = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)


def told(effects: list[SupEffect]) -> tuple[Notify, tuple[str, str], tuple[str, str]]:
    """The one notice in `effects`, with its (title, body) in Dutch and in English."""
    (n,) = [e for e in effects if isinstance(e, Notify)]
    nl = notice_text(SITE, n.notice.text_key, n.notice.detail, Language.NL)
    en = notice_text(SITE, n.notice.text_key, n.notice.detail, Language.EN)
    assert nl is not None and en is not None
    return n, nl, en


def standby(effect: TooFew | EnoughAgain | OlderStandby) -> tuple[Notify, tuple[str, str], tuple[str, str]]:
    return told(standby_notice(SITE, StandbyNotice(effect), NOW))


def node(effect: NodeSilent | NodeBack) -> tuple[Notify, tuple[str, str], tuple[str, str]]:
    return told(node_notice(SITE, NodeNotice(effect), NOW))


def test_too_few_standbys_goes_to_facilities_with_the_silent_ones() -> None:
    n, nl, en = standby(TooFew(("c",), (("b", 42.4),), 2))
    assert n.notice.person_ids == ("fien", "gert") and n.notice.reason is NotifyReason.FAULT
    assert nl[0] == "STORING alarmcentrale: reserveconsole ontbreekt"
    assert "(2)" in nl[1] and "Melden zich: c; stil: b (42 s)" in nl[1]
    assert en[0] == "FAULT alarm console: standby console missing" and "silent: b (42 s)" in en[1]


def test_no_standby_heard_at_all() -> None:
    _, nl, _ = standby(TooFew((), (), 1))
    assert "Melden zich: -; stil: -" in nl[1]


def test_a_standby_back_is_information() -> None:
    n, nl, en = standby(EnoughAgain(("b",)))
    assert n.notice.reason is NotifyReason.INFO
    assert nl[0] == "Hersteld: reserveconsole meldt zich" and "weer: b." in nl[1]
    assert en[0] == "Recovered: standby console heard"


def test_an_older_standby_names_both_versions() -> None:
    _, nl, en = standby(OlderStandby("console-2", "1.3.0", "1.4.0"))
    assert nl[0] == "STORING alarmcentrale: reserveconsole console-2 verouderd"
    assert "stilalarm 1.3.0, de actieve console 1.4.0" in nl[1]
    assert "runs stilalarm 1.3.0, the active console 1.4.0" in en[1]


def test_a_silent_node_goes_to_facilities_with_what_still_works() -> None:
    n, nl, en = node(
        NodeSilent("10.0.0.3:1883", 61.6, "no CONNACK within 5 s", ("10.0.0.1:1883", "10.0.0.2:1883"))
    )
    assert n.notice.person_ids == ("fien", "gert") and n.notice.reason is NotifyReason.FAULT
    assert nl[0] == "STORING alarmcentrale: brokernode 10.0.0.3:1883 antwoordt niet"
    assert "al 62 s geen verbinding meer (no CONNACK within 5 s)" in nl[1]
    assert "(10.0.0.1:1883, 10.0.0.2:1883)" in nl[1] and "Laat IT deze node meteen nakijken" in nl[1]
    assert en[0] == "FAULT alarm console: broker node 10.0.0.3:1883 not answering"
    assert "if one more node fails, no alarm gets through at all" in en[1]


def test_a_node_back_is_information() -> None:
    n, nl, en = node(NodeBack("10.0.0.3:1883"))
    assert n.notice.reason is NotifyReason.INFO
    assert nl[0] == "Hersteld: brokernode 10.0.0.3:1883 antwoordt weer"
    assert en[0] == "Recovered: broker node 10.0.0.3:1883 answers again"
