"""The event log schema: every fact the console records, as pydantic models.

The log is append-only. The pure cores (`stilalarm.console.core.engine`, `stilalarm.console.core.supervision`)
decide facts and fold them into their state with `evolve`; the live state is by
construction the fold of the log, which is how a restart rebuilds it. Every fact
has `kind` and `at` (console time, UTC); the store also indexes `incident_id`,
`unit_id`, `person_id` and `event_id` (a unit event's idempotency key, unique).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from stilalarm.console.regfacts import (
    RegistrationCompleted,
    RegistrationCorrected,
    RegistrationFiled,
    RegistrationOwed,
)
from stilalarm.console.responsefacts import Declined, NobodyReachable, OnSite
from stilalarm.console.riskfacts import RiskAnnounced, RiskCancelled, RiskConfirmed
from stilalarm.console.visitfacts import OverdueRaised, VisitDetails, VisitEnded, VisitNoAnswer, VisitStarted
from stilalarm.wire.messages import NotifyReason, Registration, TestScope, UtcDatetime

Id = Annotated[str, Field(max_length=48)]

TestRefusal = Literal["no_window", "already_tested", "again_within_60s"]
"""Why a unit's `test` event was taken as a real alarm: no test window of the unit open at the
console's time; that button's test in the open window(s) already recorded; or its previous test
press less than 60 s before."""


class _Fact(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    at: UtcDatetime = Field(description="When the console recorded it (UTC).")


# --------------------------------------------------------------------------- incidents


class AlarmReceived(_Fact):
    """A real press opened a new incident."""

    kind: Literal["alarm_received"] = "alarm_received"
    incident_id: Id
    unit_id: Id
    button_id: Id
    room_id: Id
    team_id: Id
    event_id: uuid.UUID = Field(description="The unit event (idempotency key).")
    pressed_at: UtcDatetime = Field(description="When the unit saw the press.")
    sent_at: UtcDatetime = Field(description="When the unit sent this transmission.")
    test_refused: TestRefusal | None = Field(
        default=None, description="Sent by the unit as a test, taken as a real alarm: why (else None)."
    )
    place: str = Field(
        default="",
        max_length=200,
        description="Where a panic-page press says it is (address, position); empty for other units.",
    )


class PressRepeated(_Fact):
    """Another press of the same unit joined an open or acknowledged incident."""

    kind: Literal["press_repeated"] = "press_repeated"
    incident_id: Id
    unit_id: Id
    button_id: Id
    event_id: uuid.UUID = Field(description="The (first) unit event of these presses.")
    pressed_at: UtcDatetime = Field(description="When the (first) press happened, unit clock.")
    count: int = Field(default=1, ge=1, description="Presses this fact stands for (a flood is counted).")
    last_pressed_at: UtcDatetime | None = Field(
        default=None, description="When the last of `count` presses happened (None: count is 1)."
    )
    test_refused: TestRefusal | None = Field(
        default=None, description="Sent by the unit as a test, taken as a real press: why (else None)."
    )
    place: str = Field(
        default="", max_length=200, description="A panic-page press's newer place (empty: unchanged)."
    )


class Notified(_Fact):
    """Notifications were created (and queued for delivery) for these people."""

    kind: Literal["notified"] = "notified"
    reason: NotifyReason
    incident_id: Id | None = None
    unit_id: Id | None = Field(default=None, description="For unit (fault) notices.")
    level: int = Field(default=0, ge=0, description="Escalation level (1-based); 0 = not a level.")
    person_ids: tuple[Id, ...]
    notification_ids: tuple[uuid.UUID, ...] = Field(description="One per person, same order.")
    call_101: bool = False
    evacuate: str | None = Field(default=None, description="Waiting room id to evacuate.")
    text_key: Id = Field(default="", description="Which text (stilalarm.console.texts) the notice uses.")
    detail: dict[str, str] = Field(default_factory=dict, description="Values for the text.")


class LevelSkipped(_Fact):
    """A level had nobody present (or nobody at all) and was passed at once."""

    kind: Literal["level_skipped"] = "level_skipped"
    incident_id: Id
    level: int
    absent: tuple[Id, ...] = Field(description="Targets of the level who were absent.")


class Acknowledged(_Fact):
    """'Ik kom': a person took the incident; escalation stops."""

    kind: Literal["acknowledged"] = "acknowledged"
    incident_id: Id
    person_id: Id
    via: Literal["command", "pager"]
    event_id: uuid.UUID | None = Field(default=None, description="The pager unit's event, if via pager.")
    cmd_id: uuid.UUID | None = None


class Resolved(_Fact):
    """The incident was closed with the protocol's registration."""

    kind: Literal["resolved"] = "resolved"
    incident_id: Id
    person_id: Id
    registration: Registration
    cmd_id: uuid.UUID | None = None


class DeliveryAttempt(_Fact):
    """One delivery attempt on a non-durable channel (pager, e-mail, Apprise) and its outcome, for the
    timeline (`notification_id`: for a page, the PageCmd's cmd_id)."""

    kind: Literal["delivery_attempt"] = "delivery_attempt"
    notification_id: uuid.UUID
    incident_id: Id | None = None
    person_id: Id
    channel: Id
    attempt: int = Field(ge=0, description="1-based; 0 = never attempted (queue full, stopped).")
    status: Literal["delivered", "failed", "gave_up"]
    reason: str = Field(default="", max_length=300, description="Why it failed; never a secret.")


class ChannelFault(_Fact):
    """A delivery channel keeps failing (raised, once) or works again (cleared)."""

    kind: Literal["channel_fault"] = "channel_fault"
    channel: Id
    state: Literal["raised", "cleared"]
    since: UtcDatetime
    reason: str = Field(default="", max_length=300)


class IncidentExpired(_Fact):
    """A resolved incident's retention passed; its retained topic was cleared."""

    kind: Literal["incident_expired"] = "incident_expired"
    incident_id: Id


class CommandRejected(_Fact):
    """A person's command (or a pager ack) was refused; `code` is the CommandReply code."""

    kind: Literal["command_rejected"] = "command_rejected"
    person_id: Id | None = None
    unit_id: Id | None = None
    cmd_kind: Id
    code: Id
    detail: str = ""
    cmd_id: uuid.UUID | None = None
    event_id: uuid.UUID | None = None
    incident_id: Id | None = None


class ConsoleLinked(_Fact):
    """One of a person's consoles connected (online) or went away (offline, or its will)."""

    kind: Literal["console_linked"] = "console_linked"
    person_id: Id
    console_id: Id
    online: bool


class PresenceChanged(_Fact):
    """A person marked themselves present or absent."""

    kind: Literal["presence_changed"] = "presence_changed"
    person_id: Id
    present: bool
    cmd_id: uuid.UUID | None = None


class AftercareDone(_Fact):
    """After-care (nazorg) for a resolved incident was given; its reminders stop."""

    kind: Literal["aftercare_done"] = "aftercare_done"
    incident_id: Id
    person_id: Id
    note: str = Field(default="", max_length=2000)
    cmd_id: uuid.UUID | None = None


# --------------------------------------------------------------------------- tests of buttons


class TestResult(_Fact):
    """A test press was stored (never pages anyone)."""

    __test__ = False  # not a pytest class
    kind: Literal["test_result"] = "test_result"
    unit_id: Id
    button_id: Id
    campaign_id: Id | None = None
    event_id: uuid.UUID
    pressed_at: UtcDatetime
    latency_ms: float = Field(description="Press (unit clock) to stored (console clock).")


class CampaignStarted(_Fact):
    """Facilities put units in test mode."""

    kind: Literal["campaign_started"] = "campaign_started"
    campaign_id: Id
    person_id: Id
    scope: TestScope
    target: Id | None = None
    unit_ids: tuple[Id, ...]
    until: UtcDatetime
    cmd_id: uuid.UUID | None = None


class CampaignEnded(_Fact):
    """A campaign was stopped (or expired); buttons without a test press are listed."""

    kind: Literal["campaign_ended"] = "campaign_ended"
    campaign_id: Id
    person_id: Id | None = None
    why: Literal["stopped", "expired"]
    tested: tuple[str, ...] = Field(description="'unit/button' pairs tested in the campaign.")
    untested: tuple[str, ...] = Field(description="'unit/button' pairs never pressed.")


class ButtonsChecked(_Fact):
    """The daily check of the buttons ran (notices, if any, are `notified` facts beside it)."""

    kind: Literal["buttons_checked"] = "buttons_checked"
    overdue: tuple[str, ...] = Field(description="'unit/button' pairs without an OK test in 7 days.")
    faulty: tuple[str, ...] = Field(description="'unit/button' pairs with an active fault.")


# --------------------------------------------------------------------------- unit supervision


class UnitOnline(_Fact):
    """A unit came (back) online (birth message or heartbeat)."""

    kind: Literal["unit_online"] = "unit_online"
    unit_id: Id
    boot_id: uuid.UUID | None = None
    firmware_version: str = ""


class UnitOffline(_Fact):
    """A unit went offline: lost (last will), shutdown, silent (no heartbeats), never seen."""

    kind: Literal["unit_offline"] = "unit_offline"
    unit_id: Id
    why: Literal["lost", "shutdown", "silent", "never"]
    last_heard: UtcDatetime | None = Field(
        default=None, description="Silent / never: the last sign of life (or the start); else None."
    )


class UnitRestarted(_Fact):
    """A unit came back with a new boot id without a clean shutdown."""

    kind: Literal["unit_restarted"] = "unit_restarted"
    unit_id: Id
    old_boot_id: uuid.UUID | None
    new_boot_id: uuid.UUID


class FaultRaised(_Fact):
    """A unit fault: '<button>:<cut|short|stuck>', 'unit:tamper', 'unit:backlog'."""

    kind: Literal["fault_raised"] = "fault_raised"
    unit_id: Id
    fault: Id
    event_id: uuid.UUID | None = None


class FaultCleared(_Fact):
    """A unit fault went away."""

    kind: Literal["fault_cleared"] = "fault_cleared"
    unit_id: Id
    fault: Id
    event_id: uuid.UUID | None = None


class BuildingUnreachable(_Fact):
    """Every Pi unit of a building (at least two) is offline: its link is taken as lost; facilities
    get this one notice instead of a notice per unit (docs/HA.md, Buildings)."""

    kind: Literal["building_unreachable"] = "building_unreachable"
    building_id: Id
    unit_ids: tuple[Id, ...] = Field(description="The building's Pi units, all offline.")
    since: UtcDatetime = Field(description="When the first of them went offline in this outage.")


class BuildingReachable(_Fact):
    """A unit of an unreachable building is back online: the building is reachable again."""

    kind: Literal["building_reachable"] = "building_reachable"
    building_id: Id
    unit_id: Id = Field(description="The unit that came back first.")
    since: UtcDatetime = Field(description="When the building had become unreachable (its `since`).")


Fact = Annotated[
    AlarmReceived
    | PressRepeated
    | Notified
    | LevelSkipped
    | Acknowledged
    | Resolved
    | DeliveryAttempt
    | ChannelFault
    | IncidentExpired
    | CommandRejected
    | PresenceChanged
    | ConsoleLinked
    | AftercareDone
    | TestResult
    | CampaignStarted
    | CampaignEnded
    | ButtonsChecked
    | UnitOnline
    | UnitOffline
    | UnitRestarted
    | FaultRaised
    | FaultCleared
    | BuildingUnreachable
    | BuildingReachable
    | VisitStarted
    | VisitDetails
    | OverdueRaised
    | VisitNoAnswer
    | VisitEnded
    | RegistrationFiled
    | RegistrationCompleted
    | RegistrationOwed
    | RegistrationCorrected
    | Declined
    | OnSite
    | NobodyReachable
    | RiskAnnounced
    | RiskConfirmed
    | RiskCancelled,
    Field(discriminator="kind"),
]

_adapter: TypeAdapter[Fact] = TypeAdapter(Fact)


def parse_fact(data: str | bytes) -> Fact:
    """A fact from its stored JSON."""
    return _adapter.validate_json(data)


def fact_json(fact: Fact) -> str:
    """A fact as stored JSON."""
    return fact.model_dump_json()


def column(fact: Fact, name: str) -> str | None:
    """The indexed column `name` of a fact (incident_id, unit_id, person_id, event_id), or None."""
    v = getattr(fact, name, None)
    return None if v is None else str(v)
