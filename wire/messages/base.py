"""The contract's base: schema version, size limit, `ContractError` and its codes, the strict
timestamp, count and id types, and the strict base model."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

SCHEMA_VERSION = 1
MAX_PAYLOAD_BYTES = 16 * 1024
"""Larger payloads are refused before parsing (the broker's message_size_limit is larger)."""


class ContractCode(StrEnum):
    """Why a payload was refused, for machines (the message says it for people).

    The values are the console's reject counter keys (`stilalarm.console.ingest`), which the soak
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


class Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    v: Version = Field(default=1, description="Schema version of this message (SCHEMA_VERSION).")

    @model_validator(mode="before")
    @classmethod
    def _version_required_on_wire(cls, data: Any, info: ValidationInfo) -> Any:
        if info.context and info.context.get("wire") and isinstance(data, dict) and "v" not in data:
            raise ValueError("missing schema version 'v'")
        return data
