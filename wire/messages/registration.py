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


class RegistrationFileCmd(PersonCmdBase):
    """The victim's part: filed by the staff member it happened to (the sender).

    Idempotent by `registration_id` (made by the sender, the same on every retry): the same part
    sent again is answered ok and changes nothing. With `incident_id` it follows that alarm and
    the place comes from the alarm's room; without, `place_kind` is required."""

    kind: Literal["registration_file"] = "registration_file"
    registration_id: Ident
    incident_id: Ident | None = Field(default=None, description="The alarm it follows, if any.")
    place_kind: PlaceKind | None = None
    room_id: Ident | None = Field(default=None, description="The room, when it happened in one.")
    occurred_at: UtcDatetime | None = Field(default=None, description="When it happened (default: now).")
    what_happened: Annotated[str, Field(min_length=3, max_length=WHAT_MAX)]
    aggression_types: tuple[AggressionType, ...] = Field(min_length=1, max_length=3)
    how_are_you: Annotated[str, Field(max_length=HOW_MAX)] = ""
    weapon: bool = False
    stalking: bool = False
    telephone_stalking: bool = False
    damage_belongings: bool = False
    animals: bool = False
    alcohol_drugs: bool = False
    sexual_intimidation: bool = False

    @model_validator(mode="after")
    def _place(self) -> Self:
        if self.incident_id is None and self.place_kind is None:
            raise ValueError("give the place (balie/spreekkamer/wachtzaal/telefoon/huisbezoek/buiten)")
        if len(set(self.aggression_types)) != len(self.aggression_types):
            raise ValueError("a form of aggression is given twice")
        return self


class RegistrationCompleteCmd(PersonCmdBase):
    """The lead's part: a lead or deputy of the registration's team completes it."""

    kind: Literal["registration_complete"] = "registration_complete"
    registration_id: Ident
    severity: Severity
    police_called: bool = False
    pv_number: Annotated[str, Field(max_length=60)] | None = None
    sanctions: tuple[Sanction, ...] = Field(default=(), max_length=7)
    occupational_accident: bool = False
    aftercare: tuple[Aftercare, ...] = Field(default=(), max_length=3)
    note: Annotated[str, Field(max_length=HOW_MAX)] = ""

    @model_validator(mode="after")
    def _pv(self) -> Self:
        if self.pv_number and not self.police_called:
            raise ValueError("a proces-verbaal number implies police_called")
        return self


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
