"""Per-client configs derived from the inventory (rendered by `alarm-broker render`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from stilalarm.inventory.kinds import Language
from stilalarm.inventory.places import Unit, unit_content
from stilalarm.inventory.visits import OfficeHours
from stilalarm.inventory.web import WebPolicy
from stilalarm.wire.credentials import BrokerCredentials

__all__ = ["PersonConfig", "UnitConfig", "WebConfig", "WebTokenHash", "config_content", "unit_content"]


class UnitConfig(BaseModel):
    """Everything one desk unit needs: its inventory entry and its broker credentials."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    site_id: str = Field(description="Site id (topic prefix).")
    timezone: str = Field(default="Europe/Brussels", description="Site time zone, for logs.")
    unit: Unit = Field(description="This unit's entry from site.toml.")
    broker: BrokerCredentials = Field(description="This unit's own broker credentials.")


class PersonConfig(BaseModel):
    """A person's console / CLI config: who they are and how to reach the broker."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    site_id: str = Field(description="Site id (topic prefix).")
    person_id: str = Field(description="The person this console acts as.")
    language: Language = Field(default=Language.NL, description="Language of the console.")
    timezone: str = Field(
        default="Europe/Brussels", description="Site time zone (`alarm-console visit start --until HH:MM`)."
    )
    broker: BrokerCredentials = Field(description="This person's own broker credentials.")


class WebTokenHash(BaseModel):
    """A token as alarm-web knows it: its SHA-256 only (the secret is in the render's secrets.json)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(description="Token id (logged instead of the token).")
    unit: str = Field(description="The web unit a press with this token raises.")
    person: str | None = Field(default=None, description="The person of a panic-page token.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the token, hex.")
    revoked: bool = Field(default=False, description="Refused when true.")


class WebConfig(BaseModel):
    """Everything alarm-web needs: its web units, the token hashes, its limits and its login."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    site_id: str = Field(description="Site id (topic prefix).")
    timezone: str = Field(default="Europe/Brussels", description="Site time zone, for logs.")
    language: Language = Field(default=Language.NL, description="Language of the pages by default.")
    policy: WebPolicy = Field(description="The site's [web] section (its tokens are listed there).")
    units: tuple[Unit, ...] = Field(description="The web units (via = phone / app) alarm-web keeps.")
    tokens: tuple[WebTokenHash, ...] = Field(description="Every token, hashed.")
    people: dict[str, str] = Field(
        default_factory=dict, description="Person id -> display name, for the panic page's owners."
    )
    staff: dict[str, str] = Field(
        default_factory=dict,
        description="Person id -> display name of everyone, for the home-visit page's colleague choice "
        "(only when some token belongs to a person).",
    )
    office_hours: OfficeHours = Field(
        default_factory=OfficeHours, description="The site's office hours (the visit page's evening hint)."
    )
    rooms: dict[str, str] = Field(
        default_factory=dict,
        description="Room id -> label, for the room choice of the risky-conversation and registration "
        "pages (only when some token belongs to a person).",
    )
    broker: BrokerCredentials = Field(description="alarm-web's own broker credentials.")


def config_content(cfg: UnitConfig) -> dict[str, Any]:
    """`unit_content` of a rendered unit config."""
    return unit_content(cfg.site_id, cfg.timezone, cfg.unit)
