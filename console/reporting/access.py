"""Who may read which registration records (GDPR), pure: the victim their own, a lead or deputy
their teams', the dienst Preventie en Veiligheid every record; the board reads only the monthly
report's aggregates. A person's right of access is the export of the records they appear in
(`alarm-console export --mine --as P`)."""

from __future__ import annotations

from stilalarm.console.reporting.records import IncidentRecord
from stilalarm.inventory.kinds import Role
from stilalarm.inventory.model import Site


def appears_in(person: str, r: IncidentRecord) -> bool:
    """The person's own data is in the record: they filed it, took it, resolved, completed or
    corrected it, or gave the after-care."""
    rep = r.report
    own = (r.acknowledged_by, r.resolved_by, r.aftercare_done_by)
    return person in own or (rep is not None and person in (rep.victim, rep.completed_by, *rep.corrected_by))


def may_read(site: Site, person: str, r: IncidentRecord) -> bool:
    """Whether `person` may read the record in an export."""
    p = site.index.people.get(person)
    if p is None:
        return False
    if Role.PREVENTION in p.roles:
        return True
    team = site.index.teams.get(r.team_id)
    if team is not None and (person in team.leads or person in team.deputies):
        return True
    return appears_in(person, r)


def visible(site: Site, person: str, records: list[IncidentRecord], *, mine: bool) -> list[IncidentRecord]:
    """The records `person` may read (`mine`: only those they appear in, their right of access)."""
    if mine:
        return [r for r in records if appears_in(person, r)]
    return [r for r in records if may_read(site, person, r)]
