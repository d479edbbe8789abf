"""The site inventory: one validated file (`site.toml`) describing a whole site.

Everything else (broker credentials and ACLs, unit configs, routing, escalation)
is derived from this model. Every field carries a description; invalid
inventories fail with a message naming the file, the field and what is wrong
(see `stilalarm.inventory.load`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

from pydantic import Field, PrivateAttr, model_validator

from stilalarm.inventory.kinds import Language, Role, RoomKind, StrictModel, Target, UnitRole, Via
from stilalarm.inventory.people import ChannelKind, DeliveryPolicy, Person, SmtpConfig
from stilalarm.inventory.places import Building, Room, Team, Unit
from stilalarm.inventory.policies import (
    AftercarePolicy,
    BrokerInfo,
    ButtonTestPolicy,
    ClusterInfo,
    RetentionPolicy,
    SiteInfo,
)
from stilalarm.inventory.visits import VisitPolicy
from stilalarm.inventory.web import WebPolicy


@dataclass(frozen=True)
class SiteIndex:
    """A site's lookups by id, built once when the site is validated (they are on the alarm
    path). Read-only: a Site never changes, and neither do its indexes."""

    teams: Mapping[str, Team]
    rooms: Mapping[str, Room]
    units: Mapping[str, Unit]
    """Every unit by id, in inventory order."""
    people: Mapping[str, Person]
    with_role: Mapping[Role, tuple[str, ...]]
    """Ids of the people who hold each role, in inventory order."""
    pagers: Mapping[str, tuple[str, ...]]
    """Person id -> ids of their lead pager units."""
    units_in_room: Mapping[str, tuple[str, ...]]
    units_in_team: Mapping[str, tuple[str, ...]]
    """Team id -> ids of the units in the team's rooms, in inventory order."""
    buildings: Mapping[str, Building]
    pis_in_building: Mapping[str, tuple[str, ...]]
    """Building id -> ids of the Pi units (via = gpio) in its rooms, in inventory order (web units
    reach the broker through alarm-web, not the building's link)."""

    @staticmethod
    def of(site: Site) -> SiteIndex:
        """Index a site whose references are valid (every unit's room exists)."""
        rooms = {r.id: r for r in site.rooms}
        with_role: dict[Role, list[str]] = {}
        pagers: dict[str, list[str]] = {}
        in_room: dict[str, list[str]] = {}
        in_team: dict[str, list[str]] = {}
        in_building: dict[str, list[str]] = {b.id: [] for b in site.buildings}
        for p in site.people:
            for role in dict.fromkeys(p.roles):
                with_role.setdefault(role, []).append(p.id)
        for u in site.units:
            if u.role is UnitRole.LEAD and u.person is not None:
                pagers.setdefault(u.person, []).append(u.id)
            in_room.setdefault(u.room, []).append(u.id)
            in_team.setdefault(rooms[u.room].team, []).append(u.id)
            building = rooms[u.room].building
            if building is not None and u.via is Via.GPIO:
                in_building.setdefault(building, []).append(u.id)
        return SiteIndex(
            teams={t.id: t for t in site.teams},
            rooms=rooms,
            units={u.id: u for u in site.units},
            people={p.id: p for p in site.people},
            with_role={k: tuple(v) for k, v in with_role.items()},
            pagers={k: tuple(v) for k, v in pagers.items()},
            units_in_room={k: tuple(v) for k, v in in_room.items()},
            units_in_team={k: tuple(v) for k, v in in_team.items()},
            buildings={b.id: b for b in site.buildings},
            pis_in_building={k: tuple(v) for k, v in in_building.items()},
        )


class Site(StrictModel):
    """A whole site inventory: the one source of truth."""

    _index: SiteIndex = PrivateAttr()

    site: SiteInfo = Field(description="The site itself.")
    broker: BrokerInfo = Field(default_factory=BrokerInfo, description="How to reach the broker.")
    cluster: ClusterInfo = Field(
        default_factory=ClusterInfo,
        description="The nodes of the clustered broker profile (`alarm-broker render --profile "
        "cluster`); unused by the default mosquitto profile.",
    )
    buildings: tuple[Building, ...] = Field(
        default=(),
        description="Buildings whose units reach the central broker over their own (inter-building) "
        "link; rooms name theirs with `building`. A lost link is one notice to facilities "
        "(docs/HA.md, Buildings). Empty: one building, supervised unit by unit.",
    )
    teams: tuple[Team, ...] = Field(min_length=1, description="Departments / teams.")
    rooms: tuple[Room, ...] = Field(min_length=1, description="Rooms and locations.")
    units: tuple[Unit, ...] = Field(min_length=1, description="Desk units and lead pager units.")
    people: tuple[Person, ...] = Field(min_length=1, description="People and their roles.")
    smtp: SmtpConfig | None = Field(default=None, description="Mail server for e-mail notifications.")
    delivery: DeliveryPolicy = Field(
        default_factory=DeliveryPolicy,
        description="Retries and bounds of the pager, e-mail and Apprise channels "
        "(the console retries until confirmed).",
    )
    tests: ButtonTestPolicy = Field(
        default_factory=ButtonTestPolicy, description="Daily notices about overdue or faulty buttons."
    )
    aftercare: AftercarePolicy = Field(
        default_factory=AftercarePolicy, description="After-care (nazorg) reminders to the resolver."
    )
    retention: RetentionPolicy = Field(
        default_factory=RetentionPolicy, description="How long registrations and detail are kept."
    )
    visits: VisitPolicy = Field(
        default_factory=VisitPolicy,
        description="Home visits (huisbezoek): grace after the planned end, the colleague's answer time, "
        "escalation to everyone, how long the client's name and address are kept (docs/VISITS.md).",
    )
    web: WebPolicy | None = Field(
        default=None,
        description="The web ingress (alarm-web) for desk phones' alarm keys and the phone panic page; "
        "needed when a unit has via = phone or app.",
    )

    @model_validator(mode="after")
    def _references(self) -> Self:
        def at(kind: str, i: int, ident: str, field: str) -> str:
            return f"{kind}[{i}] (id={ident!r}).{field}"

        def unique(kind: str, ids: list[str]) -> set[str]:
            seen: set[str] = set()
            for i, ident in enumerate(ids):
                if ident in seen:
                    raise ValueError(f"{kind}[{i}].id: duplicate {kind[:-1]} id {ident!r}")
                seen.add(ident)
            return seen

        teams = unique("teams", [t.id for t in self.teams])
        buildings = unique("buildings", [b.id for b in self.buildings])
        rooms = unique("rooms", [r.id for r in self.rooms])
        unique("units", [u.id for u in self.units])
        unique("people", [p.id for p in self.people])
        people = {p.id: p for p in self.people}
        for i, t in enumerate(self.teams):
            for field, ids in (("leads", t.leads), ("deputies", t.deputies)):
                for pid in ids:
                    if pid not in people:
                        raise ValueError(f"{at('teams', i, t.id, field)}: unknown person {pid!r}")
            for pid in t.leads:
                if Role.LEAD not in people[pid].roles:
                    raise ValueError(f"{at('teams', i, t.id, 'leads')}: {pid!r} lacks role 'lead'")
            for pid in t.deputies:
                if not {Role.DEPUTY, Role.LEAD} & set(people[pid].roles):
                    raise ValueError(f"{at('teams', i, t.id, 'deputies')}: {pid!r} lacks role 'deputy'")
        room_by_id = {r.id: r for r in self.rooms}
        for i, r in enumerate(self.rooms):
            if r.team not in teams:
                raise ValueError(f"{at('rooms', i, r.id, 'team')}: unknown team {r.team!r}")
            if r.building is not None and r.building not in buildings:
                known = ", ".join(sorted(buildings)) or "none listed"
                raise ValueError(
                    f"{at('rooms', i, r.id, 'building')}: unknown building {r.building!r} "
                    f"(buildings: {known}); add it as [[buildings]] id = {r.building!r} or fix the room"
                )
            if r.waiting_room is not None:
                where = at("rooms", i, r.id, "waiting_room")
                if r.waiting_room not in rooms:
                    raise ValueError(f"{where}: unknown room {r.waiting_room!r}")
                if room_by_id[r.waiting_room].kind is not RoomKind.WACHTZAAL:
                    raise ValueError(f"{where}: {r.waiting_room!r} is not a wachtzaal")
        for i, u in enumerate(self.units):
            if u.room not in rooms:
                raise ValueError(f"{at('units', i, u.id, 'room')}: unknown room {u.room!r}")
            if u.person is not None and u.person not in people:
                raise ValueError(f"{at('units', i, u.id, 'person')}: unknown person {u.person!r}")
        for i, p in enumerate(self.people):
            if p.team is not None and p.team not in teams:
                raise ValueError(f"{at('people', i, p.id, 'team')}: unknown team {p.team!r}")
            kinds = {r.kind for r in p.channel_rules()}
            if ChannelKind.EMAIL in kinds and not p.email:
                raise ValueError(f"{at('people', i, p.id, 'channels')}: e-mail channel without email")
            if ChannelKind.EMAIL in kinds and p.email and self.smtp is None:
                raise ValueError(f"{at('people', i, p.id, 'email')}: e-mail needs an [smtp] section")
            if ChannelKind.APPRISE in kinds and not p.apprise:
                raise ValueError(f"{at('people', i, p.id, 'channels')}: apprise channel without apprise")
        self._check_web(people)
        if not any(Role.FACILITIES in p.roles for p in self.people):
            raise ValueError("people: nobody has role 'facilities'; unit faults would reach no one")
        self._index = SiteIndex.of(self)  # once, now that every reference is known to be valid
        return self

    def _check_web(self, people: Mapping[str, Person]) -> None:
        units = {u.id: u for u in self.units}
        web_units = [u.id for u in self.units if u.via is not Via.GPIO]
        if self.web is None:
            if web_units:
                raise ValueError(f"units {web_units} have via = phone / app: add a [web] section (alarm-web)")
            return
        for i, tk in enumerate(self.web.tokens):
            where = f"web.tokens[{i}] (id={tk.id!r})"
            u = units.get(tk.unit)
            if u is None:
                raise ValueError(f"{where}.unit: unknown unit {tk.unit!r}")
            if u.via is Via.GPIO:
                raise ValueError(f"{where}.unit: {tk.unit!r} is a Pi unit; a token needs via = phone or app")
            if tk.person is not None and tk.person not in people:
                raise ValueError(f"{where}.person: unknown person {tk.person!r}")
            if u.via is Via.APP and tk.person is None:
                raise ValueError(f"{where}.person: a panic-page token (unit via = app) belongs to a person")
            if u.via is Via.PHONE and tk.person is not None:
                raise ValueError(f"{where}.person: a desk phone's token belongs to the phone, not a person")

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy, indexed anew (an update may replace teams, rooms, units or people).

        Like pydantic's model_copy it does not validate `update`: give only valid values."""
        copied = super().model_copy(update=update, deep=deep)
        copied._index = SiteIndex.of(copied)
        return copied

    # -- lookups (pure) -------------------------------------------------------

    @property
    def index(self) -> SiteIndex:
        """Lookups by id (teams, rooms, units, people, roles, pagers), built once."""
        return self._index

    def team(self, team_id: str) -> Team:
        """The team with this id (KeyError if unknown)."""
        return self._index.teams[team_id]

    def building_of(self, unit_id: str) -> str | None:
        """The building whose link a Pi unit uses (None: a web unit, or its room names no building)."""
        unit = self._index.units[unit_id]
        return self._index.rooms[unit.room].building if unit.via is Via.GPIO else None

    def room(self, room_id: str) -> Room:
        """The room with this id (KeyError if unknown)."""
        return self._index.rooms[room_id]

    def unit(self, unit_id: str) -> Unit:
        """The unit with this id (KeyError if unknown)."""
        return self._index.units[unit_id]

    def person(self, person_id: str) -> Person:
        """The person with this id (KeyError if unknown)."""
        return self._index.people[person_id]

    def language_of(self, person_id: str) -> Language:
        """The language texts to this person are written in."""
        return self.person(person_id).language or self.site.language

    def people_with(self, role: Role) -> tuple[str, ...]:
        """Ids of the people who hold this role, in inventory order."""
        return self._index.with_role.get(role, ())

    def waiting_room_for(self, room_id: str) -> str | None:
        """The waiting room to evacuate for an alarm in this room (itself when it is one)."""
        room = self._index.rooms[room_id]
        if room.kind is RoomKind.WACHTZAAL:
            return room.id
        return room.waiting_room

    def units_in_scope(self, scope: str, target: str | None) -> tuple[str, ...] | None:
        """Units of a test scope (unit/room/team/site), or None when the target is unknown."""
        ix = self._index
        if scope == "site":
            return tuple(ix.units)
        if target is None:
            return None
        if scope == "unit":
            return (target,) if target in ix.units else None
        if scope == "room":
            return ix.units_in_room.get(target, ()) if target in ix.rooms else None
        if scope == "team":
            return ix.units_in_team.get(target, ()) if target in ix.teams else None
        return None

    def resolve_targets(self, team_id: str, targets: tuple[Target, ...]) -> tuple[str, ...]:
        """Person ids a level's targets name for an alarm in this team, deduplicated, in order."""
        team = self.team(team_id)
        out: list[str] = []
        for tg in targets:
            match tg:
                case Target.TEAM_LEADS:
                    ids: tuple[str, ...] = team.leads
                case Target.TEAM_DEPUTIES:
                    ids = team.deputies
                case Target.ALL_LEADS:
                    ids = tuple(p for t in self.teams for p in t.leads)
                case Target.ALL_DEPUTIES:
                    ids = tuple(p for t in self.teams for p in t.deputies)
                case Target.RECEPTION:
                    ids = self.people_with(Role.RECEPTION)
                case Target.PREVENTION:
                    ids = self.people_with(Role.PREVENTION)
                case Target.FACILITIES:
                    ids = self.people_with(Role.FACILITIES)
            for pid in ids:
                if pid not in out:
                    out.append(pid)
        return tuple(out)

    def may_act_on_incidents(self, person_id: str) -> bool:
        """Whether this person may acknowledge / resolve aggression alarms."""
        try:
            p = self.person(person_id)
        except KeyError:
            return False
        return bool({Role.LEAD, Role.DEPUTY, Role.RECEPTION, Role.PREVENTION} & set(p.roles))

    def teams_of(self, person_id: str) -> tuple[str, ...]:
        """The teams a person belongs to: their `team`, then the teams they lead or deputise."""
        p = self._index.people.get(person_id)
        if p is None:
            return ()
        out = [p.team] if p.team is not None else []
        out += [t.id for t in self.teams if person_id in t.leads or person_id in t.deputies]
        return tuple(dict.fromkeys(out))

    def may_run_tests(self, person_id: str) -> bool:
        """Whether this person may start / stop test mode (facilities)."""
        try:
            return Role.FACILITIES in self.person(person_id).roles
        except KeyError:
            return False
