"""What a desk unit and the console say to each other: events, status and heartbeats up;
receipts and commands down."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    Field,
    model_validator,
)

from stilalarm.wire.messages.base import MAX_INT, Count, Ident, Msg, ShortText, UtcDatetime

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
    SILENT = "silent"  # a desk phone not heard from by alarm-web for its silence limit
    PINS = "pins"  # the unit cannot read its pins (no pin library, no GPIO, no access)
    CONFIG = "config"  # the unit refused a config the console pushed (the reason is in `detail`)


class UnitEvent(Msg):
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


class UnitStatus(Msg):
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


class Heartbeat(Msg):
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
    # Added within v1 (issue 17), all optional: an older unit's heartbeat still parses.
    config_version: ShortText | None = Field(
        default=None,
        description="Version of the config the unit runs (`config_version(serial, digest)`); None: the "
        "rendered file only, no config from the console applied yet (or an older unit).",
    )
    os_name: ShortText = Field(
        default="", description="PRETTY_NAME of /etc/os-release, e.g. Debian GNU/Linux 12."
    )
    kernel: ShortText = Field(default="", description="Kernel release (uname -r).")
    python: ShortText = Field(default="", description="Python version the firmware runs on, e.g. 3.11.2.")


# --------------------------------------------------------------------------- console -> unit

DIGEST_PATTERN = r"^[0-9a-f]{64}$"


def config_digest(content: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a unit config's content, canonical JSON (sorted keys, no spaces)."""
    raw = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def config_version(serial: int, digest: str) -> str:
    """The version text of a config (heartbeat, console): `<serial>-<first 12 hex of the digest>`."""
    return f"{serial}-{digest[:12]}"


def version_digest(version: str | None) -> str:
    """The digest part of a version text ('' for None or a malformed one)."""
    if not version or "-" not in version:
        return ""
    return version.rsplit("-", 1)[1]


def version_serial(version: str | None) -> int | None:
    """The serial part of a version text (None for None or a malformed one)."""
    if not version or "-" not in version:
        return None
    head = version.rsplit("-", 1)[0]
    return int(head) if head.isdigit() else None


class UnitConfigPush(Msg):
    """Retained on unit/U/config: the non-secret part of unit U's config, pushed by the console.

    Ordering: `serial` decides (a unit applies a push only when its serial is larger than the one
    it applied; equal or smaller is ignored). The console makes it `max(last serial + 1, unix
    milliseconds now)` and keeps it while the content (`digest`) stays the same, so a restart or a
    reload without a change publishes the same version again. `digest` is the SHA-256 of `content`
    (canonical JSON) and is checked by the unit. Never the broker password: that stays in the
    rendered file on the unit."""

    unit_id: Ident = Field(description="The unit this config is for; must match the topic and the unit.")
    serial: Count = Field(description="Ordering key: larger is newer.")
    digest: Annotated[str, Field(pattern=DIGEST_PATTERN)] = Field(
        description="SHA-256 (hex) of `content` as canonical JSON."
    )
    issued_at: UtcDatetime = Field(description="When the console published this version.")
    content: dict[str, Any] = Field(
        description="site_id, timezone and the unit's inventory entry (`unit`), as in the rendered "
        "units/U.json without `broker`."
    )

    @property
    def version(self) -> str:
        """The version text the unit reports once it applied this config."""
        return config_version(self.serial, self.digest)


class Receipt(Msg):
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
    NOBODY_REACHABLE = "nobody_reachable"  # nobody on the escalation is reachable: call 101 yourself


class UnitCmdBase(Msg):
    cmd_id: uuid.UUID
    unit_id: Ident
    issued_at: UtcDatetime


class TestModeCmd(UnitCmdBase):
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


class FeedbackCmd(UnitCmdBase):
    """Set the feedback LED for an incident of this unit."""

    kind: Literal["feedback"] = "feedback"
    incident_id: Ident | None = None
    feedback: Feedback


class IdentifyCmd(UnitCmdBase):
    """Blink the LED so a technician finds the unit (never at an alarm desk in use)."""

    kind: Literal["identify"] = "identify"
    seconds: float = Field(default=10, gt=0, le=120)


class PageCmd(UnitCmdBase):
    """For lead pager units: signal (or stop signalling) an incident at a level."""

    kind: Literal["page"] = "page"
    incident_id: Ident
    level: int = Field(ge=0, le=20, description="0 = stop signalling.")


UnitCommand = Annotated[TestModeCmd | FeedbackCmd | IdentifyCmd | PageCmd, Field(discriminator="kind")]
