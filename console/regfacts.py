"""The event log's facts about registrations ("Melding agressie"); part of `stilalarm.console.facts.Fact`.

Each part keeps its own author and time: `RegistrationFiled` is the victim's part,
`RegistrationCompleted` the lead's. A registration that follows an alarm names its incident; a
resolve with the registration (`Resolved`) counts as the lead's part of that incident's
registration. `RegistrationOwed` says whose victim's part a panic-page alarm still misses;
`RegistrationCorrected` is a new version of one part (the earlier ones stay in the log). The
place and the team are decided once, when the victim files, and recorded here, so the reports
never look them up again in an inventory that may have changed since.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from stilalarm.wire.messages import Aftercare, AggressionType, Sanction, Severity, UtcDatetime
from stilalarm.wire.messages.registration import HOW_MAX, WHAT_MAX, LeadPart, PlaceKind, VictimPart

Id = Annotated[str, Field(max_length=48)]


class _RegFact(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    at: UtcDatetime = Field(description="When the console recorded it (UTC).")


class RegistrationFiled(_RegFact):
    """The victim's part of a registration."""

    kind: Literal["registration_filed"] = "registration_filed"
    registration_id: Id
    person_id: Id = Field(description="The victim, who filed it.")
    team_id: Id = Field(description="Whose leads complete it.")
    incident_id: Id | None = None
    place_kind: PlaceKind
    room_id: Id | None = None
    occurred_at: UtcDatetime
    what_happened: Annotated[str, Field(max_length=WHAT_MAX)]
    aggression_types: tuple[AggressionType, ...]
    how_are_you: Annotated[str, Field(max_length=HOW_MAX)] = ""
    weapon: bool = False
    stalking: bool = False
    telephone_stalking: bool = False
    damage_belongings: bool = False
    animals: bool = False
    alcohol_drugs: bool = False
    sexual_intimidation: bool = False
    lead_by_resolve: bool = Field(
        default=False, description="The incident was already resolved with a registration: its lead part."
    )
    cmd_id: uuid.UUID | None = None


class RegistrationCompleted(_RegFact):
    """The lead's part of a registration (a lead or deputy of its team)."""

    kind: Literal["registration_completed"] = "registration_completed"
    registration_id: Id
    person_id: Id = Field(description="The lead or deputy who completed it.")
    severity: Severity
    police_called: bool = False
    pv_number: Annotated[str, Field(max_length=60)] | None = None
    sanctions: tuple[Sanction, ...] = ()
    occupational_accident: bool = False
    aftercare: tuple[Aftercare, ...] = ()
    note: Annotated[str, Field(max_length=HOW_MAX)] = ""
    cmd_id: uuid.UUID | None = None


class RegistrationOwed(_RegFact):
    """An alarm from a person's panic page (a unit with `via = app`) was resolved without the
    victim's part: the press identifies who raised it, so that person is reminded to file it.
    Desk buttons and desk phones identify nobody and never give this fact."""

    kind: Literal["registration_owed"] = "registration_owed"
    incident_id: Id = Field(description="The resolved alarm.")
    person_id: Id = Field(description="Whose panic page raised it (its token's person at the resolve).")
    team_id: Id = Field(description="The alarm's team.")


class RegistrationCorrected(_RegFact):
    """A part corrected by who may (its author; the lead's part also another lead or deputy of the
    team). The new version replaces the part in the export and the record; the earlier versions stay
    in the log with their author and time."""

    kind: Literal["registration_corrected"] = "registration_corrected"
    registration_id: Id
    person_id: Id = Field(description="Who corrected it.")
    incident_id: Id | None = Field(default=None, description="The registration's alarm, if any.")
    victim: VictimPart | None = Field(default=None, description="The victim's part, corrected.")
    lead: LeadPart | None = Field(default=None, description="The lead's part, corrected.")
    cmd_id: uuid.UUID | None = None

    @property
    def part(self) -> Literal["victim", "lead"]:
        return "victim" if self.victim is not None else "lead"
