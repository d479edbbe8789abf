"""The Presence view: who is reachable per team, and a warning where nobody is."""

from __future__ import annotations

from dataclasses import dataclass

from stilalarm.console.tui.model.context import Ctx
from stilalarm.console.tui.model.received import Received


@dataclass(frozen=True)
class Member:
    person_id: str
    name: str
    role_text: str
    present: bool


@dataclass(frozen=True)
class TeamPresence:
    team_id: str
    name: str
    members: tuple[Member, ...]
    reachable: tuple[str, ...]
    warning: bool
    text: str


@dataclass(frozen=True)
class PresenceView:
    me_present: bool
    me_text: str
    teams: tuple[TeamPresence, ...]

    @property
    def unreachable(self) -> int:
        return sum(1 for tp in self.teams if tp.warning)


def is_present(rec: Received, person_id: str) -> bool:
    """People without a presence state count as present."""
    p = rec.presence.get(person_id)
    return True if p is None else p.present


def build_presence(rec: Received, ctx: Ctx) -> PresenceView:
    """Who is reachable per team (leads and deputies) and a warning where nobody is."""
    t = ctx.texts
    teams = []
    for team in ctx.site.teams:
        members: list[Member] = []
        for pid, role in [(p, t.p_lead) for p in team.leads] + [(p, t.p_deputy) for p in team.deputies]:
            members.append(Member(pid, ctx.name(pid), role, is_present(rec, pid)))
        reachable = tuple(dict.fromkeys(m.name for m in members if m.present))
        teams.append(
            TeamPresence(
                team_id=team.id,
                name=team.name,
                members=tuple(members),
                reachable=reachable,
                warning=not reachable,
                text=t.p_reachable.format(names=", ".join(reachable)) if reachable else t.p_nobody,
            )
        )
    me = is_present(rec, ctx.me)
    return PresenceView(me_present=me, me_text=t.p_me_present if me else t.p_me_absent, teams=tuple(teams))
