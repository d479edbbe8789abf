"""Per-client configs derived from the inventory (rendered by `alarm-broker render`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from stilalarm.inventory.kinds import Language
from stilalarm.inventory.places import Unit
from stilalarm.wire.credentials import BrokerCredentials


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
    broker: BrokerCredentials = Field(description="This person's own broker credentials.")
