"""The active console's standby notices (console/shell/inbox.py `standby_notice`) as facilities
read them, in Dutch and English."""

from __future__ import annotations

from datetime import UTC, datetime

from stilalarm.console.core.effects import Notify
from stilalarm.console.core.standbys import EnoughAgain, OlderStandby, TooFew
from stilalarm.console.shell.inbox import StandbyNotice, standby_notice
from stilalarm.console.texts import notice_text
from stilalarm.devkit.servicerun import FAST_SITE
from stilalarm.inventory.kinds import Language
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import NotifyReason

SITE = parse_site(FAST_SITE)
NOW = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)


def told(effect: TooFew | EnoughAgain | OlderStandby) -> tuple[Notify, tuple[str, str], tuple[str, str]]:
    (n,) = [e for e in standby_notice(SITE, StandbyNotice(effect), NOW) if isinstance(e, Notify)]
    nl = notice_text(SITE, n.notice.text_key, n.notice.detail, Language.NL)
    en = notice_text(SITE, n.notice.text_key, n.notice.detail, Language.EN)
    assert nl is not None and en is not None
    return n, nl, en


def test_too_few_goes_to_facilities_with_the_silent_ones() -> None:
    n, nl, en = told(TooFew(("c",), (("b", 42.4),), 2))
    assert n.notice.person_ids == ("fien", "gert") and n.notice.reason is NotifyReason.FAULT
    assert nl[0] == "STORING alarmcentrale: reserveconsole ontbreekt"
    assert "(2)" in nl[1] and "Melden zich: c; stil: b (42 s)" in nl[1]
    assert en[0] == "FAULT alarm console: standby console missing" and "silent: b (42 s)" in en[1]


def test_none_heard_at_all() -> None:
    _, nl, _ = told(TooFew((), (), 1))
    assert "Melden zich: -; stil: -" in nl[1]


def test_back_is_information() -> None:
    n, nl, en = told(EnoughAgain(("b",)))
    assert n.notice.reason is NotifyReason.INFO
    assert nl[0] == "Hersteld: reserveconsole meldt zich" and "weer: b." in nl[1]
    assert en[0] == "Recovered: standby console heard"


def test_an_older_standby_names_both_versions() -> None:
    _, nl, en = told(OlderStandby("console-2", "1.3.0", "1.4.0"))
    assert nl[0] == "STORING alarmcentrale: reserveconsole console-2 verouderd"
    assert "stilalarm 1.3.0, de actieve console 1.4.0" in nl[1]
    assert "runs stilalarm 1.3.0, the active console 1.4.0" in en[1]
