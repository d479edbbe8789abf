"""Open teams with nobody present (docs/RISKY.md, "Office hours"). Pure: time is `tx.now`.

While the building is open (`[site] office_hours`, closing days included) a team whose leads and
deputies are all unreachable (marked absent, or every console of theirs gone; the engine's own
presence, `EngineState.unreachable`) would get an alarm straight at its last level. The console
then tells the team's leads and deputies (on every channel: e-mail and chat reach a closed console)
and facilities, once: a `Notified` fact `team_unstaffed` marks the team (folded into
`EngineState.unstaffed`). When someone of them is present again the same people are told
`team_staffed`; when the building closes the mark is cleared silently (a fact to nobody), so the next
opening warns again. Checked after every input and every tick (teams are few).
"""

from __future__ import annotations

from dataclasses import replace
from zoneinfo import ZoneInfo

from stilalarm.console.core.engine.alarms import EngineTx
from stilalarm.console.core.engine.state import EngineState
from stilalarm.console.core.notice import notice
from stilalarm.console.facts import Notified
from stilalarm.inventory.kinds import Role
from stilalarm.wire.messages import NotifyReason

UNSTAFFED = "team_unstaffed"
STAFFED = "team_staffed"
CLOSED = "team_closed"
STAFFING_KEYS = frozenset({UNSTAFFED, STAFFED, CLOSED})


def unstaffed_now(s: EngineState, is_open: bool) -> frozenset[str]:
    """The teams that are open with none of their leads and deputies present."""
    if not is_open:
        return frozenset()
    away = s.unreachable
    return frozenset(
        t.id
        for t in s.site.teams
        if (t.leads or t.deputies) and all(p in away for p in (*t.leads, *t.deputies))
    )


def check_staffing(tx: EngineTx) -> None:
    """Tell of each team that became (or stopped being) open with nobody present."""
    s = tx.s
    site = s.site
    is_open = site.site.office_hours.is_open(tx.now, ZoneInfo(site.site.timezone))
    now = unstaffed_now(s, is_open)
    if now == s.unstaffed:
        return
    facilities = site.people_with(Role.FACILITIES)
    for team_id in sorted(now ^ s.unstaffed):
        if team_id not in site.index.teams:
            continue
        team = site.team(team_id)
        to = tuple(dict.fromkeys((*team.leads, *team.deputies, *facilities)))
        if team_id in now:
            key = UNSTAFFED
        elif is_open:
            key = STAFFED
        else:
            key, to = CLOSED, ()
        detail = {"team": team_id, "team_name": team.name}
        notice(tx, NotifyReason.INFO, to, f"{team_id}:{key}", key, detail, to_nobody=True)


def apply_staffing(s: EngineState, f: Notified) -> EngineState:
    """Fold a staffing notice into `EngineState.unstaffed`."""
    team = f.detail.get("team", "")
    if f.text_key == UNSTAFFED:
        return replace(s, unstaffed=s.unstaffed | {team})
    return replace(s, unstaffed=s.unstaffed - {team})
