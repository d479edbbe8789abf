"""What every scenario gets: the site, the work directory, quick mode, and the baselines of this run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.report import Results
from bench.stats import Stats
from stilalarm.inventory import load_site
from stilalarm.inventory.model import Site


@dataclass
class Ctx:
    site_path: Path
    work: Path
    quick: bool
    res: Results
    base: dict[str, float] = field(default_factory=dict)  # figures of the baseline scenario
    base_stats: dict[str, Stats] = field(default_factory=dict)
    busy: bool = True  # also run the busy variants (a CPU-bound competitor, bench/contention.py)
    quiet: dict[str, float] = field(default_factory=dict)  # the service's quiet figures, for busy rows

    @property
    def site(self) -> Site:
        return load_site(self.site_path)

    def n(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def dir(self, name: str) -> Path:
        d = self.work / name
        d.mkdir(parents=True, exist_ok=True)
        return d


def desk_units(site: Site) -> list[str]:
    """Desk (alarm) units of a site, in inventory order."""
    return [u.id for u in site.units if u.role.value != "lead" and u.via.value == "gpio"]


def facilities(site: Site) -> set[str]:
    return {p.id for p in site.people if any(r.value == "facilities" for r in p.roles)}
