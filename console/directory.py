"""Fast, read-only lookups over the site inventory (built once per service start)."""

from __future__ import annotations

from dataclasses import dataclass, field

from inventory.model import Person, Role, Room, Site, Team, Unit, UnitRole


@dataclass(frozen=True, eq=False)
class Directory:
    """The inventory indexed by id; `Site` lookups rebuild a dict per call, this does not."""

    site: Site
    units: dict[str, Unit] = field(init=False)
    rooms: dict[str, Room] = field(init=False)
    teams: dict[str, Team] = field(init=False)
    people: dict[str, Person] = field(init=False)
    pagers: dict[str, tuple[str, ...]] = field(init=False)
    units_in_room: dict[str, tuple[str, ...]] = field(init=False)

    def __post_init__(self) -> None:
        s = self.site
        set_ = object.__setattr__
        set_(self, "units", {u.id: u for u in s.units})
        set_(self, "rooms", {r.id: r for r in s.rooms})
        set_(self, "teams", {t.id: t for t in s.teams})
        set_(self, "people", {p.id: p for p in s.people})
        pagers: dict[str, list[str]] = {}
        in_room: dict[str, list[str]] = {}
        for u in s.units:
            if u.role is UnitRole.LEAD and u.person is not None:
                pagers.setdefault(u.person, []).append(u.id)
            in_room.setdefault(u.room, []).append(u.id)
        set_(self, "pagers", {k: tuple(v) for k, v in pagers.items()})
        set_(self, "units_in_room", {k: tuple(v) for k, v in in_room.items()})

    def team_of_unit(self, unit_id: str) -> Team:
        """The team responsible for the room the unit is in."""
        return self.teams[self.rooms[self.units[unit_id].room].team]

    def waiting_room_for(self, room_id: str) -> str | None:
        """The waiting room to evacuate for an alarm in this room (itself when it is one)."""
        room = self.rooms[room_id]
        if room.kind.value == "wachtzaal":
            return room.id
        return room.waiting_room

    def facilities(self) -> tuple[str, ...]:
        """Everyone with the facilities role."""
        return tuple(p.id for p in self.site.people if Role.FACILITIES in p.roles)

    def units_in_scope(self, scope: str, target: str | None) -> tuple[str, ...] | None:
        """Units of a test scope (unit/room/team/site), or None when the target is unknown."""
        if scope == "site":
            return tuple(self.units)
        if target is None:
            return None
        if scope == "unit":
            return (target,) if target in self.units else None
        if scope == "room":
            return self.units_in_room.get(target, ()) if target in self.rooms else None
        if scope == "team":
            if target not in self.teams:
                return None
            return tuple(u.id for u in self.site.units if self.rooms[u.room].team == target)
        return None
