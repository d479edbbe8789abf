"""Every message on the wire, as pydantic models: the one place schemas live.

Each message carries `v` (schema version). Parsing is strict: unknown versions,
wrong types, unknown fields, oversized fields and oversized payloads are refused
with a `ContractError` that says what is wrong and names the field. No byte string
makes the parser raise anything else (property-tested with extreme datetimes and
numbers for every message type).

Timestamps are ISO 8601 strings with a UTC offset (no unix numbers, no naive times)
that must stay within years 1..9999 once converted to UTC. Floats must be finite
(no NaN / Infinity), integers fit in 63 bits.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    model_validator,
)

SCHEMA_VERSION = 1
MAX_PAYLOAD_BYTES = 16 * 1024
"""Larger payloads are refused before parsing (the broker's message_size_limit is larger)."""


class ContractCode(StrEnum):
    """Why a payload was refused, for machines (the message says it for people).

    The values are the console's reject counter keys (`console.ingest`), which the soak
    checker and the tests read: keep them stable.
    """

    OVERSIZED = "oversized"  # larger than MAX_PAYLOAD_BYTES; not parsed at all
    INVALID_JSON = "invalid_json"  # not one JSON value in UTF-8
    INVALID_SCHEMA = "invalid_schema"  # JSON, but not this message (fields, types, version, rules)


class ContractError(ValueError):
    """A payload does not follow the wire contract; `code` says what kind, the message says why."""

    def __init__(self, message: str, code: ContractCode) -> None:
        super().__init__(message)
        self.code = code


def _iso_only(v: object) -> object:
    """Refuse unix numbers (seconds or milliseconds? nobody can tell): ISO 8601 text only."""
    if isinstance(v, int | float) and not isinstance(v, bool):
        raise ValueError("give an ISO 8601 time with a UTC offset, not a number")
    return v


def _to_utc(v: datetime) -> datetime:
    try:
        return v.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+23:59 is before year 1 in UTC
        raise ValueError("time is outside years 1..9999 once converted to UTC") from None


UtcDatetime = Annotated[AwareDatetime, BeforeValidator(_iso_only), AfterValidator(_to_utc)]
"""A timestamp with a time zone, normalised to UTC (naive times and numbers are refused)."""

MAX_INT = 2**63 - 1
"""Integers on the wire fit a signed 64-bit column (SQLite, other implementations)."""
Count = Annotated[int, Field(ge=0, le=MAX_INT)]

ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,47}$"
"""Every id (site, team, room, unit, button, person, incident, campaign): lowercase letters,
digits and dashes, 1..48 characters. Ids appear in MQTT topics and usernames; this is the one
place the rule is written."""
ID_RE = re.compile(ID_PATTERN)
"""ID_PATTERN compiled, for checks outside a model (`ID_RE.match(text)`)."""

Ident = Annotated[str, Field(pattern=ID_PATTERN)]
ShortText = Annotated[str, Field(max_length=200)]
Version = Literal[1]


def utcnow() -> datetime:
    """The current time in UTC (the shells use this; the pure cores get time injected)."""
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    """A fresh random id for events, commands and notifications."""
    return uuid.uuid4()


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    v: Version = Field(default=1, description="Schema version of this message (SCHEMA_VERSION).")

    @model_validator(mode="before")
    @classmethod
    def _version_required_on_wire(cls, data: Any, info: ValidationInfo) -> Any:
        if info.context and info.context.get("wire") and isinstance(data, dict) and "v" not in data:
            raise ValueError("missing schema version 'v'")
        return data


# --------------------------------------------------------------------------- unit -> console


class EventKind(StrEnum):
    ALARM = "alarm"  # a real press of a panic button
    TEST = "test"  # a press while that button is in test mode
    FAULT = "fault"  # an input went bad (cable cut / short / tamper / stuck)
    FAULT_CLEARED = "fault_cleared"  # that input is healthy again
    PAGER_ACK = "pager_ack"  # the button of a lead pager unit: "ik kom" for the newest incident


class FaultKind(StrEnum):
    CUT = "cut"  # both contacts of a supervised button open
    SHORT = "short"  # both contacts closed
    TAMPER = "tamper"  # enclosure opened
    STUCK = "stuck"  # held far longer than any press (a jammed button or a cut NC cable)


class UnitEvent(_Msg):
    """An event from a unit's durable outbox; retransmitted with the same id until receipted."""

    event_id: uuid.UUID = Field(description="Idempotency key; same on every retransmission.")
    unit_id: Ident = Field(description="Sending unit; must match the topic.")
    kind: EventKind = Field(description="What happened.")
    button_id: Ident | None = Field(default=None, description="Button concerned, if any.")
    fault: FaultKind | None = Field(default=None, description="For fault events: which fault.")
    seq: Count = Field(description="Per-unit sequence number, increasing across boots.")
    boot_id: uuid.UUID = Field(description="Random id of the unit process run that created it.")
    occurred_at: UtcDatetime = Field(description="When the unit detected it (UTC).")
    sent_at: UtcDatetime = Field(description="When this transmission left (UTC).")
    attempt: int = Field(default=1, ge=1, le=MAX_INT, description="1 for the first transmission.")
    campaign_id: Ident | None = Field(default=None, description="Test campaign, for test events.")
    detail: ShortText = Field(default="", description="Free text for logs.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.kind in (EventKind.FAULT, EventKind.FAULT_CLEARED) and self.fault is None:
            raise ValueError("fault events need 'fault'")
        if self.kind in (EventKind.ALARM, EventKind.TEST) and self.button_id is None:
            raise ValueError("alarm and test events need 'button_id'")
        return self


class LinkState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class UnitStatus(_Msg):
    """Retained on unit/U/status: birth on connect, last will (and clean shutdown) offline."""

    unit_id: Ident
    state: LinkState
    boot_id: uuid.UUID
    firmware_version: ShortText = ""
    reason: Literal["connected", "shutdown", "lost"] = Field(
        description="connected (birth), shutdown (clean stop) or lost (last will)."
    )
    at: UtcDatetime | None = Field(default=None, description="Publish time; None in the will.")


class InputHealth(StrEnum):
    OK = "ok"
    PRESSED = "pressed"
    CUT = "cut"
    SHORT = "short"
    STUCK = "stuck"
    TAMPER = "tamper"  # the enclosure is open (only under the 'tamper' key)


class Heartbeat(_Msg):
    """Periodic unit health on unit/U/heartbeat (QoS0, not retained)."""

    unit_id: Ident
    boot_id: uuid.UUID
    seq: Count = Field(description="Heartbeat counter of this boot.")
    sent_at: UtcDatetime
    interval_s: float = Field(gt=0, le=3600, description="The unit's heartbeat interval.")
    uptime_s: float = Field(ge=0)
    outbox_depth: Count = Field(description="Events not yet receipted by the console.")
    firmware_version: ShortText
    test_mode: bool = Field(description="Any button of the unit in test mode.")
    test_until: UtcDatetime | None = None
    inputs: dict[Ident, InputHealth] = Field(
        default_factory=dict, max_length=16, description="Per button (and 'tamper') health."
    )
    cpu_temp_c: float | None = Field(default=None, ge=-50, le=150)
    wifi_dbm: int | None = Field(default=None, ge=-150, le=0)


# --------------------------------------------------------------------------- console -> unit


class Receipt(_Msg):
    """The console has durably stored event `event_id` (sent only after fsync)."""

    event_id: uuid.UUID
    unit_id: Ident
    incident_id: Ident | None = Field(default=None, description="Incident the event belongs to.")
    stored_at: UtcDatetime
    duplicate: bool = Field(default=False, description="The event was already stored before.")


class Feedback(StrEnum):
    """What the discreet LED at the desk should say."""

    OFF = "off"
    STORED = "stored"  # the console has the alarm
    ACKNOWLEDGED = "acknowledged"  # a lead is coming
    TEST_OK = "test_ok"  # a test press was recorded


class _UnitCmd(_Msg):
    cmd_id: uuid.UUID
    unit_id: Ident
    issued_at: UtcDatetime


class TestModeCmd(_UnitCmd):
    """Put the unit's buttons in (or out of) single-shot test mode."""

    kind: Literal["test_mode"] = "test_mode"
    on: bool
    until: UtcDatetime | None = Field(default=None, description="Expiry; required when on.")
    campaign_id: Ident | None = None
    by: Ident | None = Field(default=None, description="Facilities person who started it.")

    @model_validator(mode="after")
    def _until(self) -> Self:
        if self.on and self.until is None:
            raise ValueError("test_mode on needs 'until'")
        return self


class FeedbackCmd(_UnitCmd):
    """Set the feedback LED for an incident of this unit."""

    kind: Literal["feedback"] = "feedback"
    incident_id: Ident | None = None
    feedback: Feedback


class IdentifyCmd(_UnitCmd):
    """Blink the LED so a technician finds the unit (never at an alarm desk in use)."""

    kind: Literal["identify"] = "identify"
    seconds: float = Field(default=10, gt=0, le=120)


class PageCmd(_UnitCmd):
    """For lead pager units: signal (or stop signalling) an incident at a level."""

    kind: Literal["page"] = "page"
    incident_id: Ident
    level: int = Field(ge=0, le=20, description="0 = stop signalling.")


UnitCommand = Annotated[TestModeCmd | FeedbackCmd | IdentifyCmd | PageCmd, Field(discriminator="kind")]

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


class _PersonCmd(_Msg):
    cmd_id: uuid.UUID
    person_id: Ident = Field(description="Must match the topic's person id.")
    issued_at: UtcDatetime


class AckCmd(_PersonCmd):
    """'Ik kom': the sender takes the incident."""

    kind: Literal["ack"] = "ack"
    incident_id: Ident


class ResolveCmd(_PersonCmd):
    """Close the incident with the registration fields."""

    kind: Literal["resolve"] = "resolve"
    incident_id: Ident
    registration: Registration


class PresenceCmd(_PersonCmd):
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


class TestStartCmd(_PersonCmd):
    """Facilities: open the test window of ONE unit or ONE room (scope team/site is refused)."""

    kind: Literal["test_start"] = "test_start"
    scope: TestScope
    target: Ident | None = Field(default=None, description="Unit/room id (team/site: refused).")
    minutes: float = Field(default=TEST_WINDOW_DEFAULT_MIN, gt=0, le=TEST_WINDOW_MAX_MIN)


class TestStopCmd(_PersonCmd):
    """Facilities: end a test campaign (untested buttons are recorded as not tested)."""

    kind: Literal["test_stop"] = "test_stop"
    campaign_id: Ident | None = Field(default=None, description="None: the newest open one.")


class AftercareDoneCmd(_PersonCmd):
    """After-care (nazorg) for a resolved incident was given: stops the reminders."""

    kind: Literal["aftercare_done"] = "aftercare_done"
    incident_id: Ident
    note: Annotated[str, Field(max_length=2000)] = Field(default="", description="What was done (optional).")


class ConsoleLinkCmd(_PersonCmd):
    """A person's console says it is (online) or is no longer (offline) connected.

    Sent on connect and on clean exit, and set as the console's (non-retained) last will,
    so a lead whose every console is gone counts as absent and the alarm goes straight
    to the deputy.
    """

    kind: Literal["console_link"] = "console_link"
    console_id: Ident = Field(description="Stable per PC and person, so a restart replaces itself.")
    online: bool


PersonCommand = Annotated[
    AckCmd | ResolveCmd | PresenceCmd | TestStartCmd | TestStopCmd | AftercareDoneCmd | ConsoleLinkCmd,
    Field(discriminator="kind"),
]

# --------------------------------------------------------------------------- console -> person / all


class CommandReply(_Msg):
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


class NotifyReason(StrEnum):
    ALARM = "alarm"
    ESCALATION = "escalation"
    REPEAT = "repeat"
    ACKNOWLEDGED = "acknowledged"
    REMINDER = "reminder"
    FAULT = "fault"
    INFO = "info"


class Notification(_Msg):
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


class IncidentStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class IncidentState(_Msg):
    """Retained on incident/I: the truth every console shows."""

    incident_id: Ident
    unit_id: Ident
    room_id: Ident
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


class IncidentTimeline(_Msg):
    """Retained on timeline/I: an incident's full history, for consoles' History screens."""

    incident_id: Ident
    entries: tuple[TimelineEntry, ...] = Field(max_length=200)
    version: Count = Field(description="Same version as the IncidentState it goes with.")


class UnitHealth(_Msg):
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


class PresenceState(_Msg):
    """Retained on presence/P."""

    person_id: Ident
    present: bool
    reason: Literal["manual", "console_offline", "default"] = "manual"
    at: UtcDatetime


class ConsoleStatus(_Msg):
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


# --------------------------------------------------------------------------- parsing

M = TypeVar("M", bound=BaseModel)

_unit_command_adapter: TypeAdapter[UnitCommand] = TypeAdapter(UnitCommand)
_person_command_adapter: TypeAdapter[PersonCommand] = TypeAdapter(PersonCommand)


_WIRE = {"wire": True}


def _explain(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(x) for x in err["loc"]) or "(payload)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _code(exc: ValidationError) -> ContractCode:
    """Not JSON at all (pydantic's `json_invalid`), or JSON that is not this message."""
    if any(err["type"] == "json_invalid" for err in exc.errors()):
        return ContractCode.INVALID_JSON
    return ContractCode.INVALID_SCHEMA


def _check_size(payload: bytes | str) -> bytes:
    raw = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise ContractError(
            f"payload of {len(raw)} bytes exceeds {MAX_PAYLOAD_BYTES}", ContractCode.OVERSIZED
        )
    return raw


def _validate(adapter_or_model: TypeAdapter[M] | type[M], raw: bytes, name: str) -> M:
    try:
        if isinstance(adapter_or_model, TypeAdapter):
            return adapter_or_model.validate_json(raw, context=_WIRE)
        return adapter_or_model.model_validate_json(raw, context=_WIRE)
    except ValidationError as exc:
        raise ContractError(f"invalid {name}: {_explain(exc)}", _code(exc)) from None
    except Exception as exc:  # the last line of defence: bad input is never a crash
        raise ContractError(
            f"invalid {name}: (payload): {type(exc).__name__}: {exc}", ContractCode.INVALID_SCHEMA
        ) from None


def parse(model: type[M], payload: bytes | str) -> M:
    """Parse one message of a known type; raise ContractError with the reason."""
    return _validate(model, _check_size(payload), model.__name__)


def parse_unit_command(payload: bytes | str) -> TestModeCmd | FeedbackCmd | IdentifyCmd | PageCmd:
    """Parse a command sent to a unit."""
    return _validate(_unit_command_adapter, _check_size(payload), "unit command")


def parse_person_command(
    payload: bytes | str,
) -> AckCmd | ResolveCmd | PresenceCmd | TestStartCmd | TestStopCmd | AftercareDoneCmd | ConsoleLinkCmd:
    """Parse a command sent by a person (lead, facilities)."""
    return _validate(_person_command_adapter, _check_size(payload), "person command")


def encode(msg: BaseModel) -> bytes:
    """Serialise a message for the wire (compact JSON, UTF-8)."""
    return msg.model_dump_json().encode("utf-8")
