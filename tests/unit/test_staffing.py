"""An open team with nobody present (no lead or deputy reachable): told once per transition to its
leads and deputies and facilities, cleared when someone is back or the building closes (pure, time
injected)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from stilalarm.console.core import engine
from stilalarm.console.core.effects import Effect, Notify, Record
from stilalarm.console.core.engine import EngineState, PersonCmdIn, Tick
from stilalarm.console.texts import notice_text
from stilalarm.devkit.servicerun import FAST_SITE
from stilalarm.inventory.kinds import Language
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import ConsoleLinkCmd, PresenceCmd

ALWAYS = 'office_hours = { start = "00:00", end = "24:00", weekdays = [1, 2, 3, 4, 5, 6, 7] }'
SITE = parse_site(FAST_SITE.replace(ALWAYS, 'office_hours = { start = "08:00", end = "17:00" }'))
T0 = datetime(2026, 11, 25, 9, 0, 0, tzinfo=UTC)  # a Wednesday, 10:00 in Brussels
TOLD = ("an", "dirk", "fien", "gert")  # sociale-dienst's lead and deputy, facilities


def cmd(kind: type, person: str, **kw: object) -> PersonCmdIn:
    return PersonCmdIn(kind(cmd_id=uuid.uuid4(), person_id=person, issued_at=T0, **kw))


class Run:
    def __init__(self) -> None:
        self.s = EngineState.initial(SITE)
        self.log: list[Effect] = []

    def __call__(self, inp: engine.Input, now: datetime) -> list[tuple[str, tuple[str, ...]]]:
        self.s, eff = engine.step(self.s, inp, now)
        self.log += eff
        return [(e.notice.text_key, e.notice.person_ids) for e in eff if isinstance(e, Notify)]


def test_an_open_team_without_lead_or_deputy_present_is_told_once_and_again_when_someone_is_back() -> None:
    r = Run()
    assert r(cmd(PresenceCmd, "an", present=False), T0) == []  # the deputy is still there
    told = r(cmd(PresenceCmd, "dirk", present=False), T0 + timedelta(seconds=1))
    assert told == [("team_unstaffed", TOLD)]
    assert r.s.unstaffed == {"sociale-dienst"}
    assert r(Tick(), T0 + timedelta(seconds=2)) == []  # once per transition
    assert r(cmd(PresenceCmd, "an", present=False), T0 + timedelta(seconds=3)) == []
    assert r(cmd(PresenceCmd, "dirk", present=True), T0 + timedelta(seconds=4)) == [("team_staffed", TOLD)]
    assert r.s.unstaffed == frozenset()


def test_console_gone_counts_as_not_present_and_closing_clears_silently() -> None:
    r = Run()
    for p in ("an", "dirk"):
        r(cmd(ConsoleLinkCmd, p, console_id=f"pc-{p}", online=True), T0)
    assert r(cmd(ConsoleLinkCmd, "an", console_id="pc-an", online=False), T0) == []
    told = r(cmd(ConsoleLinkCmd, "dirk", console_id="pc-dirk", online=False), T0)
    assert told == [("team_unstaffed", TOLD)]
    evening = datetime(2026, 11, 25, 17, 0, tzinfo=UTC)  # 18:00 in Brussels: closed
    assert r(Tick(), evening) == [("team_closed", ())]  # cleared without telling anyone
    assert r.s.unstaffed == frozenset()
    morning = datetime(2026, 11, 26, 7, 30, tzinfo=UTC)  # 08:30: open again, still nobody
    assert r(Tick(), morning) == [("team_unstaffed", TOLD)]


def test_nobody_is_warned_outside_office_hours_and_a_rebuild_agrees() -> None:
    r = Run()
    night = datetime(2026, 11, 25, 21, 0, tzinfo=UTC)
    r(cmd(PresenceCmd, "an", present=False), night)
    assert r(cmd(PresenceCmd, "dirk", present=False), night) == []
    r(Tick(), T0 + timedelta(days=1))
    facts = [e.fact for e in r.log if isinstance(e, Record)]
    assert engine.rebuild(SITE, facts).comparable() == r.s.comparable()  # type: ignore[arg-type]
    assert r.s.unstaffed == {"sociale-dienst"}


def test_the_notice_reads_in_dutch_and_english() -> None:
    detail = {"team": "sociale-dienst", "team_name": "Sociale dienst"}
    title, body = notice_text(SITE, "team_unstaffed", detail, Language("nl"))
    assert title == "Niemand aanwezig voor Sociale dienst" and "laatste niveau" in body
    title, _ = notice_text(SITE, "team_unstaffed", detail, Language("en"))
    assert title == "Nobody present for Sociale dienst"
