"""What the console publishes to people and to all: replies, notifications, incident states and
timelines, unit health, presence, the console's own status."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)

from stilalarm.wire.messages.base import MAX_INT, Count, Ident, Msg, ShortText, UtcDatetime
from stilalarm.wire.messages.unit import LinkState

# --------------------------------------------------------------------------- console -> person / all


class CommandReply(Msg):
    """The console's answer to a person command."""

    cmd_id: uuid.UUID
    ok: bool
    code: Literal[
        "ok",
        "unknown_incident",
        "not_authorised",
        "already_resolved",
        "already_acknowledged",
        "invalid",
        "unknown_target",
    ]
    reason: ShortText = Field(default="", description="Human explanation, in the person's language.")
    incident_id: Ident | None = None
    campaign_id: Ident | None = None
    visit_id: Ident | None = None


RECORD_MAX = 8000
"""The largest registration record a notification carries (characters of JSON); a larger one is
left to the export."""


class NotifyReason(StrEnum):
    ALARM = "alarm"
    ESCALATION = "escalation"
    REPEAT = "repeat"
    ACKNOWLEDGED = "acknowledged"
    REMINDER = "reminder"
    FAULT = "fault"
    INFO = "info"


class RiskNote(BaseModel):
    """A risky conversation (risicogesprek) as its notices tell it, for the consoles' list."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    risk_id: Ident
    room_id: Ident
    person_id: Ident = Field(description="Who holds the conversation.")
    standby: Ident = Field(description="The stand-by colleague.")
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    state: Literal["announced", "confirmed", "cancelled"]


class RiskState(Msg):
    """Retained on risk/P/R while a risky conversation runs (announced, not cancelled, its window not
    over): P's copy, for each person told of it (the announcer, the stand-by colleague, the room
    team's leads and deputies). Cleared (empty retained payload) when it is cancelled or its window
    ends. Only what a console's list needs: no client, no reason, no outside-hours mark."""

    risk_id: Ident
    room_id: Ident
    person_id: Ident = Field(description="Who holds the conversation (the announcer).")
    standby: Ident = Field(description="The stand-by colleague.")
    starts_at: UtcDatetime = Field(description="The window's start.")
    ends_at: UtcDatetime = Field(description="The window's end.")
    confirmed: bool = Field(default=False, description="The stand-by colleague (or a lead) confirmed it.")


class Notification(Msg):
    """A message to one person (console, pager, e-mail, chat all render from this)."""

    notification_id: uuid.UUID
    person_id: Ident
    reason: NotifyReason
    incident_id: Ident | None = None
    unit_id: Ident | None = None
    room_id: Ident | None = None
    level: int = Field(default=0, ge=0, le=20)
    call_101: bool = False
    evacuate: ShortText | None = Field(default=None, description="Waiting room to evacuate.")
    title: ShortText
    body: Annotated[str, Field(max_length=2000)]
    at: UtcDatetime
    visit_id: Ident | None = Field(default=None, description="For a home visit's notices: the visit.")
    call: ShortText | None = Field(
        default=None, description="Home visit: whom to call on which number ('Bel An Peeters op 0470 ...')."
    )
    address: ShortText | None = Field(
        default=None, description="Home visit: where it is (only to those its escalation reaches)."
    )
    record: Annotated[str, Field(max_length=RECORD_MAX)] | None = Field(
        default=None,
        description="A completed registration as JSON, for Preventie en Veiligheid (attached to the e-mail).",
    )
    risk: RiskNote | None = Field(default=None, description="A risky conversation's notices: which one.")


class IncidentStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


IncidentKind = Literal["alarm", "overdue"]
"""An incident is a press (alarm) or a home visit nobody heard back from (overdue)."""


class IncidentState(Msg):
    """Retained on incident/I: the truth every console shows (never a home visit's client or address)."""

    incident_id: Ident
    kind: IncidentKind = "alarm"
    unit_id: Ident | None = Field(default=None, description="The pressed unit (None for an overdue visit).")
    room_id: Ident | None = Field(default=None, description="The unit's room (None for an overdue visit).")
    team_id: Ident
    status: IncidentStatus
    level: int = Field(ge=0, le=20, description="Highest escalation level reached (1-based).")
    pressed_at: UtcDatetime
    stored_at: UtcDatetime
    presses: int = Field(ge=1, le=MAX_INT)
    notified: tuple[Ident, ...] = Field(default=(), max_length=500)
    acknowledged_by: Ident | None = None
    acknowledged_at: UtcDatetime | None = None
    resolved_by: Ident | None = None
    resolved_at: UtcDatetime | None = None
    call_101: bool = False
    evacuate: ShortText | None = None
    visit_id: Ident | None = Field(default=None, description="An overdue visit's id.")
    visitor: Ident | None = Field(default=None, description="Who is on the overdue visit (person id).")
    planned_end: UtcDatetime | None = Field(
        default=None, description="When the overdue visit should have ended."
    )
    declined: tuple[Ident, ...] = Field(
        default=(), max_length=500, description="Who said 'kan niet komen', in order."
    )
    on_site_at: UtcDatetime | None = Field(
        default=None, description="When the acknowledger marked 'ter plaatse' (None: not yet)."
    )
    term: int = Field(
        default=0,
        ge=0,
        le=MAX_INT,
        description="The lease term of the console that published this state (docs/HA.md; 0: a single "
        "console). Consoles keep the highest (term, version): a former active's state never replaces "
        "the active's.",
    )
    nobody_reachable: bool = Field(
        default=False, description="Nobody on the whole escalation was reachable (absent or declined)."
    )
    version: Count = Field(description="Increases with every change; keep the highest.")


class TimelineEntry(BaseModel):
    """One line of an incident's history."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    at: UtcDatetime
    kind: Annotated[str, Field(max_length=40)] = Field(
        description="pressed, stored, notified, escalated, acknowledged, resolved, repeated, ..."
    )
    person_id: Ident | None = None
    level: int | None = Field(default=None, ge=0, le=20)
    text: ShortText = ""


class IncidentTimeline(Msg):
    """Retained on timeline/I: an incident's full history, for consoles' History screens."""

    incident_id: Ident
    entries: tuple[TimelineEntry, ...] = Field(max_length=200)
    version: Count = Field(description="Same version as the IncidentState it goes with.")


class UnitHealth(Msg):
    """Retained on unitstate/U: the console's view of a unit."""

    unit_id: Ident
    online: bool
    since: UtcDatetime | None = None
    last_heartbeat: UtcDatetime | None = None
    faults: tuple[ShortText, ...] = Field(default=(), max_length=32)
    firmware_version: ShortText = ""
    test_mode: bool = False
    test_until: UtcDatetime | None = None
    outbox_depth: Count = 0
    last_test_ok: UtcDatetime | None = None
    # Added within v1 (issue 17), all optional: what the unit's heartbeats say it runs.
    config_version: ShortText | None = Field(
        default=None, description="The config version the unit reports (None: none from the console applied)."
    )
    config_current: bool | None = Field(
        default=None,
        description="Whether that is the config of the console's current inventory; None: not known "
        "yet (no heartbeat since the console started) or not a Pi unit.",
    )
    os_name: ShortText = Field(default="", description="The unit's OS (PRETTY_NAME).")
    kernel: ShortText = Field(default="", description="The unit's kernel release.")
    python: ShortText = Field(default="", description="The Python version the unit's firmware runs on.")


class PresenceState(Msg):
    """Retained on presence/P."""

    person_id: Ident
    present: bool
    reason: Literal["manual", "console_offline", "default"] = "manual"
    at: UtcDatetime


class ConsoleStatus(Msg):
    """On console/status: whether the console service is running.

    Retained on connect (online) and as the last will / on a clean stop (offline). While it
    runs, the service repeats the online status every `beat_s` seconds, not retained: a
    console that hears no beat for three times `beat_s` (by its own clock) shows the service
    as gone, whatever the retained state says."""

    state: LinkState
    at: UtcDatetime | None = None
    version: ShortText = ""
    beat_s: float | None = Field(
        default=None,
        gt=0,
        le=60,
        description="The service beats this often while online; None: it does not beat (older service).",
    )
    term: int = Field(
        default=0,
        ge=0,
        le=MAX_INT,
        description="The active console's lease term on a cluster (docs/HA.md); 0: a single console.",
    )
    instance: ShortText = Field(default="", description="Which console of a cluster is active ('' alone).")
