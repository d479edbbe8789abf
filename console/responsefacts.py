"""The event log's facts about responses to an alarm (issue 16); part of `stilalarm.console.facts.Fact`.

'Kan niet komen' (`Declined`), 'ter plaatse' (`OnSite`) and the moment nobody on the whole
escalation was reachable (`NobodyReachable`, recorded once per incident so the desk is told once).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from stilalarm.wire.messages import UtcDatetime

Id = Annotated[str, Field(max_length=48)]


class _ResponseFact(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    at: UtcDatetime = Field(description="When the console recorded it (UTC).")


class Declined(_ResponseFact):
    """'Kan niet komen': a person notified for the incident cannot come."""

    kind: Literal["declined"] = "declined"
    incident_id: Id
    person_id: Id
    cmd_id: uuid.UUID | None = None


class OnSite(_ResponseFact):
    """'Ter plaatse': the acknowledger arrived (console / CLI command, or the lead pager's second press)."""

    kind: Literal["on_site"] = "on_site"
    incident_id: Id
    person_id: Id
    via: Literal["command", "pager"]
    cmd_id: uuid.UUID | None = None
    event_id: uuid.UUID | None = Field(default=None, description="The pager unit's event, if via pager.")


class NobodyReachable(_ResponseFact):
    """Everyone on the incident's whole escalation was absent or had declined; the desk was told."""

    kind: Literal["nobody_reachable"] = "nobody_reachable"
    incident_id: Id
    people: tuple[Id, ...] = Field(default=(), description="Everyone on the escalation at that moment.")


ResponseFact = Declined | OnSite | NobodyReachable
