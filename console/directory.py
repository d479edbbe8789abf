"""A read-only view of `Site.index` under the names `console.notify` still uses.

The inventory is indexed once, by `Site` itself (`inventory.model.SiteIndex`); this class keeps
no index of its own. It remains only for `console.notify.render` and the service's delivery
code, which are being rewritten into the one delivery pipeline (issue #13): delete this module
with them, passing the `Site` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from inventory.model import Person, Role, Room, Site, Team, Unit


@dataclass(frozen=True, eq=False)
class Directory:
    """`site.index` by the old names; nothing is copied.

    Typed as dicts (they are: SiteIndex builds dicts) because notify narrows optional ids with
    `x in d.units`, which mypy does for dicts only. Never write to them."""

    site: Site

    @property
    def units(self) -> dict[str, Unit]:
        return cast(dict[str, Unit], self.site.index.units)

    @property
    def rooms(self) -> dict[str, Room]:
        return cast(dict[str, Room], self.site.index.rooms)

    @property
    def teams(self) -> dict[str, Team]:
        return cast(dict[str, Team], self.site.index.teams)

    @property
    def people(self) -> dict[str, Person]:
        return cast(dict[str, Person], self.site.index.people)

    def facilities(self) -> tuple[str, ...]:
        """Everyone with the facilities role."""
        return self.site.people_with(Role.FACILITIES)
