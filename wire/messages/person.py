"""What a person's console or CLI sends: acknowledgements, resolutions with the registration,
presence, test windows, after-care, home visits (huisbezoek), risky conversations (risicogesprek)."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from stilalarm.wire.messages.base import Ident, Msg, UtcDatetime

# --------------------------------------------------------------------------- person -> console


class AggressionType(StrEnum):
    VERBAAL = "verbaal"
    FYSIEK = "fysiek"
    PSYCHISCH = "psychisch"


class Severity(StrEnum):
    BOOSHEID = "boosheid"
    AGRESSIE = "agressie"
    GEWELD = "geweld"


class Sanction(StrEnum):
    WAARSCHUWING = "waarschuwing"
    ORDEGESPREK = "ordegesprek"
    UITZETTING = "uitzetting"
    AANGIFTE = "aangifte"
    TOEGANGSVERBOD = "toegangsverbod"
    STRAATVERBOD = "straatverbod"
    SCHADECLAIM = "schadeclaim"


class Aftercare(StrEnum):
    OPVANG = "opvang"
    MEDISCH = "medisch"
    PSYCHOLOGISCH = "psychologisch"


class Registration(BaseModel):
    """What the resolver records for the protocol's registration ("Melding agressie")."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    false_alarm: bool = Field(default=False, description="Pressed by mistake / no incident.")
    aggression_types: tuple[AggressionType, ...] = Field(default=(), max_length=3)
    severity: Severity | None = None
    weapon: bool = False
    police_called: bool = False
    pv_number: Annotated[str, Field(max_length=60)] | None = Field(
        default=None, description="Proces-verbaal number, when the police drew one up."
    )
    sanctions: tuple[Sanction, ...] = Field(default=(), max_length=7)
    aftercare: tuple[Aftercare, ...] = Field(default=(), max_length=3)
    occupational_accident: bool = Field(default=False, description="Arbeidsongeval declared.")
    staff_member: Annotated[str, Field(max_length=120)] | None = Field(
        default=None, description="Staff member involved (optional)."
    )
    note: Annotated[str, Field(max_length=4000)] = ""

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if not self.false_alarm:
            if not self.aggression_types:
                raise ValueError("give at least one type of aggression (verbaal/fysiek/psychisch)")
            if self.severity is None:
                raise ValueError("give the severity (boosheid/agressie/geweld)")
        if self.pv_number and not self.police_called:
            raise ValueError("a proces-verbaal number implies police_called")
        return self


class PersonCmdBase(Msg):
    cmd_id: uuid.UUID
    person_id: Ident = Field(description="Must match the topic's person id.")
    issued_at: UtcDatetime


class AckCmd(PersonCmdBase):
    """'Ik kom': the sender takes the incident."""

    kind: Literal["ack"] = "ack"
    incident_id: Ident


class DeclineCmd(PersonCmdBase):
    """'Kan niet komen': a person notified for the incident cannot come. When everyone notified at
    the current level declined or is absent, the next level fires at once; never silences."""

    kind: Literal["decline"] = "decline"
    incident_id: Ident


class OnSiteCmd(PersonCmdBase):
    """'Ter plaatse': the person who acknowledged the incident has arrived."""

    kind: Literal["on_site"] = "on_site"
    incident_id: Ident


class ResolveCmd(PersonCmdBase):
    """Close the incident with the registration fields."""

    kind: Literal["resolve"] = "resolve"
    incident_id: Ident
    registration: Registration


class PresenceCmd(PersonCmdBase):
    """Mark the sender present (aanwezig) or absent (afwezig)."""

    kind: Literal["presence"] = "presence"
    present: bool


class TestScope(StrEnum):
    UNIT = "unit"
    ROOM = "room"
    TEAM = "team"
    SITE = "site"


TEST_WINDOW_DEFAULT_MIN = 5
"""A test window lasts this many minutes unless asked otherwise (facilities stand at the unit)."""
TEST_WINDOW_MAX_MIN = 15
"""No test window lasts longer: the command, the inventory and the firmware all cap at this."""


class TestStartCmd(PersonCmdBase):
    """Facilities: open the test window of ONE unit or ONE room (scope team/site is refused)."""

    kind: Literal["test_start"] = "test_start"
    scope: TestScope
    target: Ident | None = Field(default=None, description="Unit/room id (team/site: refused).")
    minutes: float = Field(default=TEST_WINDOW_DEFAULT_MIN, gt=0, le=TEST_WINDOW_MAX_MIN)


class TestStopCmd(PersonCmdBase):
    """Facilities: end a test campaign (untested buttons are recorded as not tested)."""

    kind: Literal["test_stop"] = "test_stop"
    campaign_id: Ident | None = Field(default=None, description="None: the newest open one.")


class AftercareDoneCmd(PersonCmdBase):
    """After-care (nazorg) for a resolved incident was given: stops the reminders."""

    kind: Literal["aftercare_done"] = "aftercare_done"
    incident_id: Ident
    note: Annotated[str, Field(max_length=2000)] = Field(default="", description="What was done (optional).")


class ConsoleLinkCmd(PersonCmdBase):
    """A person's console says it is (online) or is no longer (offline) connected.

    Sent on connect and on clean exit, and set as the console's (non-retained) last will,
    so a lead whose every console is gone counts as absent and the alarm goes straight
    to the deputy.
    """

    kind: Literal["console_link"] = "console_link"
    console_id: Ident = Field(description="Stable per PC and person, so a restart replaces itself.")
    online: bool


PHONE_PATTERN = r"^\+?[0-9][0-9 ./-]{5,24}$"
"""A phone number as people type it: digits, spaces, dots, slashes, dashes, an optional leading +."""
Phone = Annotated[str, Field(pattern=PHONE_PATTERN)]


class VisitStartCmd(PersonCmdBase):
    """Before leaving for a home visit: where, until when, who checks on me (the sender is the visitor).

    Idempotent by `visit_id`: the same visit sent again is answered ok and changes nothing."""

    kind: Literal["visit_start"] = "visit_start"
    visit_id: Ident = Field(description="Made by the sender; the same on every retry.")
    client_name: Annotated[str, Field(max_length=120)] = Field(
        default="", description="Who is visited (private: shown only to those the escalation reaches)."
    )
    address: Annotated[str, Field(min_length=3, max_length=200)] = Field(
        description="Where the visit is (private, like client_name)."
    )
    planned_end: UtcDatetime = Field(description="When the visitor expects to be done.")
    colleague: Ident | None = Field(
        default=None,
        description="Who calls the visitor if the visit runs long; default: the visit team's lead. A "
        "visit planned past office hours must name one (the evening rule).",
    )
    team: Ident | None = Field(
        default=None, description="The visit's team; default: the sender's team in the inventory."
    )
    mobile: Phone = Field(description="The visitor's mobile number for the colleague to call.")


class VisitEndCmd(PersonCmdBase):
    """Check-in after the visit (by the visitor, the colleague, or a lead or deputy of its team)."""

    kind: Literal["visit_end"] = "visit_end"
    visit_id: Ident


class VisitAnswerCmd(PersonCmdBase):
    """The colleague's answer after calling the visitor: reached (all ok, closes) or no answer
    (escalates to the team lead and the police instruction)."""

    kind: Literal["visit_answer"] = "visit_answer"
    visit_id: Ident
    reached: bool = Field(description="True: 'bereikt, alles ok'. False: 'geen antwoord'.")


class RiskAnnounceCmd(PersonCmdBase):
    """A risky conversation (risicogesprek) announced beforehand by the staff member who holds it: the
    room, the time window and the stand-by colleague who follows it from the hall or a room beside.
    During the window an alarm from the room reaches the stand-by colleague at once, with level 1.

    Idempotent by `risk_id`: the same announcement sent again is answered ok and changes nothing."""

    kind: Literal["risk_announce"] = "risk_announce"
    risk_id: Ident = Field(description="Made by the sender; the same on every retry.")
    room: Ident = Field(description="The room the conversation is held in.")
    starts_at: UtcDatetime = Field(description="When the conversation starts.")
    ends_at: UtcDatetime = Field(description="When it is over at the latest.")
    standby: Ident = Field(description="The stand-by colleague (a person in the inventory, not the sender).")
    colleagues_present: bool = Field(
        default=False,
        description="Other colleagues are in the building during the window (a conversation outside "
        "office hours without them is warned against: the protocol's rule).",
    )


class RiskConfirmCmd(PersonCmdBase):
    """The stand-by colleague (or a lead or deputy of the room's team) confirms a risky conversation."""

    kind: Literal["risk_confirm"] = "risk_confirm"
    risk_id: Ident


class RiskCancelCmd(PersonCmdBase):
    """Cancel (or end early) a risky conversation: its announcer, its stand-by colleague, or a lead or
    deputy of the room's team."""

    kind: Literal["risk_cancel"] = "risk_cancel"
    risk_id: Ident


PersonCommand = Annotated[
    AckCmd
    | DeclineCmd
    | OnSiteCmd
    | ResolveCmd
    | PresenceCmd
    | TestStartCmd
    | TestStopCmd
    | AftercareDoneCmd
    | ConsoleLinkCmd
    | VisitStartCmd
    | VisitEndCmd
    | VisitAnswerCmd
    | RiskAnnounceCmd
    | RiskConfirmCmd
    | RiskCancelCmd,
    Field(discriminator="kind"),
]
