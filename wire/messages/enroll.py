"""Enrolment of a new desk unit: the Pi's request and the console's answer (docs/ENROLLMENT.md)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from stilalarm.wire.messages.base import Msg, ShortText

PUBLIC_KEY_B64 = r"^[A-Za-z0-9+/]{43}=$"
"""A 32-byte X25519 public key in standard base64."""

ENROLL_VERSION: Literal[2] = 2
"""Enrolment protocol 2 (issue 18): topics and client id named by the key fingerprint alone.
Version 1 (`enroll.<fingerprint>` as client id and topic level) is refused with a clear log line."""
EnrollVersion = Literal[2]


class EnrollRequest(Msg):
    """A fresh Pi asks to become a unit; retained on enroll/<fingerprint>/request."""

    v: EnrollVersion = Field(  # type: ignore[assignment]
        default=ENROLL_VERSION, description="Enrolment protocol version (ENROLL_VERSION)."
    )
    public_key: str = Field(
        pattern=PUBLIC_KEY_B64,
        description="The Pi's X25519 public key (base64); its fingerprint names the topic (the "
        "console checks it), its short code is what facilities approve.",
    )
    hostname: ShortText = Field(
        default="", max_length=64, description="The Pi's host name, shown to facilities."
    )
    firmware: ShortText = Field(default="", max_length=40, description="The Pi's stilalarm version.")


class EnrollStatus(StrEnum):
    """The console's answer."""

    APPROVED = "approved"  # `sealed` holds the unit config, sealed to the request's public key
    REFUSED = "refused"  # rejected, expired, already used or ambiguous: `reason` says which


class EnrollReply(Msg):
    """The console's answer; retained on enroll/<fingerprint>/reply, sealed to that key."""

    v: EnrollVersion = Field(  # type: ignore[assignment]
        default=ENROLL_VERSION, description="Enrolment protocol version (ENROLL_VERSION)."
    )
    status: EnrollStatus = Field(description="approved (with `sealed`) or refused (with `reason`).")
    sealed: str | None = Field(
        default=None,
        max_length=12000,
        description="With approved: the unit config (JSON) in a NaCl sealed box to the request's key, "
        "base64.",
    )
    reason: ShortText = Field(default="", description="With refused: why, for the person at the Pi.")
