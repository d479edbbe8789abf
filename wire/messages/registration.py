"""Registration of every incident ("Melding agressie"), with or without an alarm.

The protocol: every expression of aggression is registered, also the less serious ones. The
victim files their part (`registration_file`: what happened, the forms of aggression, how they
are doing, the special cases); a lead or deputy of the team completes it (`registration_complete`:
severity, police, sanctions, occupational accident, after-care offered). Both parts keep their own
author and time in the console's log; a registration is complete when both are in, and then goes
to the dienst Preventie en Veiligheid.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stilalarm.wire.messages.base import MAX_INT, Ident, Msg, UtcDatetime
from stilalarm.wire.messages.person import Aftercare, AggressionType, PersonCmdBase, Sanction, Severity

WHAT_MAX = 4000
"""The longest 'what happened' (characters): a page of text, never a file."""
HOW_MAX = 1000
"""The longest 'how are you doing' and the lead's note."""


class PlaceKind(StrEnum):
    """Where it happened, as the protocol's form asks it: a room's kind, or outside the organisation."""

    BALIE = "balie"
    SPREEKKAMER = "spreekkamer"
    ONTHAAL = "onthaal"
    WACHTZAAL = "wachtzaal"
    BUREAU = "bureau"
    TELEFOON = "telefoon"
    HUISBEZOEK = "huisbezoek"
    BUITEN = "buiten"
    """Buiten de organisatie (outside the organisation: street, market, a colleague's car)."""


class VictimPart(BaseModel):
    """What the victim tells in their part (filed with `registration_file`, corrected with
    `registration_correct`); the place, the room, the time and the alarm are decided when it is filed."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    what_happened: Annotated[str, Field(min_length=3, max_length=WHAT_MAX)] = Field(
        description="What happened, in the victim's words."
    )
    aggression_types: tuple[AggressionType, ...] = Field(
        min_length=1, max_length=3, description="The forms of aggression (at least one)."
    )
    how_are_you: Annotated[str, Field(max_length=HOW_MAX)] = Field(
        default="", description="How they are doing."
    )
    weapon: bool = Field(default=False, description="A weapon was used or shown.")
    stalking: bool = Field(default=False, description="Stalking.")
    telephone_stalking: bool = Field(default=False, description="Telephone stalking.")
    damage_belongings: bool = Field(default=False, description="Damage to personal belongings.")
    animals: bool = Field(default=False, description="Animals were involved.")
    alcohol_drugs: bool = Field(default=False, description="Under the influence of alcohol or drugs.")
    sexual_intimidation: bool = Field(default=False, description="Sexual intimidation.")

    @model_validator(mode="after")
    def _forms(self) -> Self:
        if len(set(self.aggression_types)) != len(self.aggression_types):
            raise ValueError("a form of aggression is given twice")
        return self


class LeadPart(BaseModel):
    """What the lead adds in their part (`registration_complete`, corrected with `registration_correct`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    severity: Severity = Field(description="boosheid, agressie or geweld.")
    police_called: bool = Field(default=False, description="The police were called (101).")
    pv_number: Annotated[str, Field(max_length=60)] | None = Field(
        default=None, description="The proces-verbaal number."
    )
    sanctions: tuple[Sanction, ...] = Field(default=(), max_length=7, description="Sanctions taken.")
    occupational_accident: bool = Field(default=False, description="Declared as an occupational accident.")
    aftercare: tuple[Aftercare, ...] = Field(default=(), max_length=3, description="After-care offered.")
    note: Annotated[str, Field(max_length=HOW_MAX)] = Field(default="", description="The lead's note.")

    @model_validator(mode="after")
    def _pv(self) -> Self:
        if self.pv_number and not self.police_called:
            raise ValueError("a proces-verbaal number implies police_called")
        return self


class RegistrationCorrectCmd(PersonCmdBase):
    """A correction of one part of a registration, by who may (docs/REGISTRATION.md): the victim's
    part by its author; the lead's part by its author or a lead or deputy of the registration's
    team. The part's new version replaces the old one in the export; the old one stays in the log."""

    kind: Literal["registration_correct"] = "registration_correct"
    registration_id: Ident
    victim: VictimPart | None = Field(default=None, description="The victim's part, corrected.")
    lead: LeadPart | None = Field(default=None, description="The lead's part, corrected.")

    @model_validator(mode="after")
    def _one_part(self) -> Self:
        if (self.victim is None) == (self.lead is None):
            raise ValueError("give exactly one part to correct: victim or lead")
        return self

    @property
    def part(self) -> Literal["victim", "lead"]:
        return "victim" if self.victim is not None else "lead"


class RegistrationFileCmd(PersonCmdBase, VictimPart):
    """The victim's part: filed by the staff member it happened to (the sender); what they tell is
    `VictimPart` (the same fields and checks as a correction of it).

    Idempotent by `registration_id` (made by the sender, the same on every retry): the same part
    sent again is answered ok and changes nothing. With `incident_id` it follows that alarm and
    the place comes from the alarm's room; without, `place_kind` is required."""

    kind: Literal["registration_file"] = "registration_file"
    registration_id: Ident
    incident_id: Ident | None = Field(default=None, description="The alarm it follows, if any.")
    place_kind: PlaceKind | None = None
    room_id: Ident | None = Field(default=None, description="The room, when it happened in one.")
    occurred_at: UtcDatetime | None = Field(default=None, description="When it happened (default: now).")

    @model_validator(mode="after")
    def _place(self) -> Self:
        if self.incident_id is None and self.place_kind is None:
            raise ValueError("give the place (balie/spreekkamer/wachtzaal/telefoon/huisbezoek/buiten)")
        return self


class RegistrationCompleteCmd(PersonCmdBase, LeadPart):
    """The lead's part: a lead or deputy of the registration's team completes it (`LeadPart`, the
    same fields and checks as a correction of it)."""

    kind: Literal["registration_complete"] = "registration_complete"
    registration_id: Ident


TODO_MAX = 50
"""The most registrations one `RegistrationTodo` list carries (the oldest first)."""


class RegistrationTodoItem(BaseModel):
    """One registration still lacking the lead's part: the victim's part, as the lead needs it."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    registration_id: Ident
    incident_id: Ident | None = Field(default=None, description="The alarm it follows, if any.")
    team_id: Ident = Field(description="Whose leads and deputies complete it.")
    victim: Ident = Field(description="Who filed it (the person it happened to).")
    filed_at: UtcDatetime = Field(description="When the victim's part was recorded.")
    occurred_at: UtcDatetime = Field(description="When it happened.")
    place_kind: PlaceKind
    room_id: Ident | None = None
    what_happened: Annotated[str, Field(max_length=WHAT_MAX)] = Field(
        description="What happened; shortened when the whole list would not fit one message."
    )
    clipped: bool = Field(default=False, description="`what_happened` is shortened (the export has it all).")
    aggression_types: tuple[AggressionType, ...] = Field(max_length=3)
    how_are_you: Annotated[str, Field(max_length=HOW_MAX)] = ""
    weapon: bool = False
    stalking: bool = False
    telephone_stalking: bool = False
    damage_belongings: bool = False
    animals: bool = False
    alcohol_drugs: bool = False
    sexual_intimidation: bool = False
    reminders_sent: int = Field(default=0, ge=0, le=MAX_INT, description="Reminders sent so far.")


class RegistrationTodo(Msg):
    """Retained on person/P/registrations: the registrations P may complete (lead or deputy of
    the team) that still lack the lead's part, oldest first. Only P's login reads it."""

    person_id: Ident
    at: UtcDatetime = Field(description="When the console built the list.")
    items: tuple[RegistrationTodoItem, ...] = Field(default=(), max_length=TODO_MAX)
    more: int = Field(
        default=0, ge=0, le=MAX_INT, description="How many more there are than the list carries."
    )
