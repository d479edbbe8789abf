"""People and how they are reached: delivery channels, e-mail and Apprise targets, secrets."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, field_validator, model_validator

from stilalarm.inventory.kinds import Language, Role, StrictModel
from stilalarm.wire.messages import Ident

SECRET_REF = r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:/\S+)$"
SecretRef = Annotated[str, Field(pattern=SECRET_REF)]
"""Where a secret lives: `env:NAME` (environment variable) or `file:/abs/path`. Never the secret."""


class ChannelKind(StrEnum):
    """How a person can be reached. `console` (MQTT person topic) is always on."""

    CONSOLE = "console"
    PAGER = "pager"
    EMAIL = "email"
    APPRISE = "apprise"


class ChannelRule(StrictModel):
    kind: ChannelKind = Field(description="The channel.")
    from_level: int = Field(
        default=1, ge=1, le=20, description="Use this channel for notifications at this level and up."
    )


class AppriseTarget(StrictModel):
    url: str = Field(
        min_length=3,
        max_length=500,
        description="Apprise URL (teams://, ntfy://, json://, ...). Write `{secret}` where a token "
        "goes; it is filled from `secret` at send time, so no token is stored here.",
    )
    secret: SecretRef | None = Field(default=None, description="env:NAME or file:/path for {secret}.")

    @model_validator(mode="after")
    def _placeholder(self) -> Self:
        if ("{secret}" in self.url) != (self.secret is not None):
            raise ValueError("use {secret} in url exactly when secret is given")
        if re.search(r"://[^/@\s]+:[^/@\s]+@", self.url):
            raise ValueError("url contains a password; put it in secret (env:NAME or file:/path)")
        return self


class SmtpSecurity(StrEnum):
    STARTTLS = "starttls"
    TLS = "tls"
    NONE = "none"  # only for a relay on localhost


class SmtpConfig(StrictModel):
    host: str = Field(min_length=1, description="SMTP server host.")
    port: int = Field(default=587, ge=1, le=65535, description="SMTP port (587 starttls, 465 tls).")
    security: SmtpSecurity = Field(default=SmtpSecurity.STARTTLS, description="starttls, tls or none.")
    username: str | None = Field(default=None, description="SMTP user, if the server wants auth.")
    password: SecretRef | None = Field(default=None, description="env:NAME or file:/path of the password.")
    from_addr: str = Field(description="Sender address, e.g. stilalarm@gemeente.be.")
    timeout_s: float = Field(default=10, gt=0, le=120, description="Give up one attempt after this long.")
    ca_file: str | None = Field(
        default=None, description="CA bundle to verify the server, if not the system's."
    )


class DeliveryPolicy(StrictModel):
    attempts: int = Field(default=4, ge=1, le=20, description="Tries per message and channel.")
    backoff_s: float = Field(default=2, gt=0, le=300, description="First retry delay; doubles each time.")
    queue_size: int = Field(default=1000, ge=10, description="Bound of each channel's queue.")
    fault_after_failures: int = Field(
        default=3, ge=1, description="Consecutive failed messages before a channel fault is raised."
    )


class Person(StrictModel):
    id: Ident = Field(description="Person id; also their MQTT identity.")
    name: str = Field(min_length=1, max_length=120, description="Full name shown to colleagues.")
    roles: tuple[Role, ...] = Field(min_length=1, description="Roles in the alarm chain.")
    language: Language | None = Field(
        default=None, description="Language of texts to this person; the site's by default."
    )
    team: Ident | None = Field(
        default=None,
        description="The team this person works in: a home visit they register is that team's, and "
        "its lead is the visit's colleague unless they name one. Leads and deputies also belong to the "
        "teams they lead or deputise.",
    )
    email: str | None = Field(default=None, max_length=254, description="E-mail address (fan-out).")
    apprise: tuple[AppriseTarget, ...] = Field(
        default=(), max_length=10, description="Chat / push / SMS gateways through Apprise."
    )
    channels: tuple[ChannelRule, ...] | None = Field(
        default=None,
        description="Channels by level. Default: console and pager from level 1, e-mail and "
        "Apprise from level 3. The console (MQTT) is always used.",
    )

    def channel_rules(self) -> tuple[ChannelRule, ...]:
        """The person's channel rules, with the defaults filled in."""
        if self.channels is not None:
            return self.channels
        rules = [ChannelRule(kind=ChannelKind.CONSOLE), ChannelRule(kind=ChannelKind.PAGER)]
        if self.email:
            rules.append(ChannelRule(kind=ChannelKind.EMAIL, from_level=3))
        if self.apprise:
            rules.append(ChannelRule(kind=ChannelKind.APPRISE, from_level=3))
        return tuple(rules)

    def channels_at(self, level: int) -> frozenset[ChannelKind]:
        """Channels to use for a notification at `level` (0 = not an escalation level: all)."""
        lv = max(level, 1) if level else 20
        return frozenset({ChannelKind.CONSOLE} | {r.kind for r in self.channel_rules() if lv >= r.from_level})

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", v):
            raise ValueError(f"{v!r} is not an e-mail address")
        return v
