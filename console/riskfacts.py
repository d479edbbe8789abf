"""The event log's facts about risky conversations (risicogesprek); part of `stilalarm.console.facts.Fact`.

An announced conversation names a room, a time window and a stand-by colleague; during the window an
alarm from the room reaches the stand-by colleague at once with level 1 (docs/RISKY.md). No client
is named: the facts carry people of the inventory, a room and times only.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from stilalarm.wire.messages import UtcDatetime

Id = Annotated[str, Field(max_length=48)]


class _RiskFact(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    at: UtcDatetime = Field(description="When the console recorded it (UTC).")


class RiskAnnounced(_RiskFact):
    """A staff member announced a risky conversation (before it starts)."""

    kind: Literal["risk_announced"] = "risk_announced"
    risk_id: Id
    person_id: Id = Field(description="Who holds the conversation (the announcer).")
    room_id: Id
    team_id: Id = Field(description="The room's team (its leads and deputies may confirm or cancel).")
    standby: Id = Field(description="The stand-by colleague.")
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    outside_hours: bool = Field(
        default=False,
        description="Planned (partly) outside office hours without other colleagues present: warned.",
    )
    cmd_id: uuid.UUID | None = None


class RiskConfirmed(_RiskFact):
    """The stand-by colleague (or a lead or deputy of the room's team) confirmed it."""

    kind: Literal["risk_confirmed"] = "risk_confirmed"
    risk_id: Id
    person_id: Id
    cmd_id: uuid.UUID | None = None


class RiskCancelled(_RiskFact):
    """It was cancelled or ended early: alarms from the room follow the normal levels again."""

    kind: Literal["risk_cancelled"] = "risk_cancelled"
    risk_id: Id
    person_id: Id
    cmd_id: uuid.UUID | None = None


RiskFact = RiskAnnounced | RiskConfirmed | RiskCancelled
