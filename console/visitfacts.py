"""The event log's facts about home visits (huisbezoek); part of `stilalarm.console.facts.Fact`.

A visit's private part (the client's name and the address) is a fact of its own, `VisitDetails`,
so that `alarm-console purge` can delete it whole once the visit is closed and its retention
(`[visits] keep_details_days`) has passed, leaving the incident's registration intact
(`stilalarm.console.retention`). No other fact carries the client's name or the address: notices
name the visit, and the console renders the text from the engine's state.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from stilalarm.wire.messages import UtcDatetime

Id = Annotated[str, Field(max_length=48)]


class _VisitFact(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    at: UtcDatetime = Field(description="When the console recorded it (UTC).")


class VisitStarted(_VisitFact):
    """A visitor registered a home visit (before leaving)."""

    kind: Literal["visit_started"] = "visit_started"
    visit_id: Id
    person_id: Id = Field(description="The visitor.")
    team_id: Id
    colleague: Id = Field(description="Who calls the visitor when the visit runs long (level 1).")
    mobile: Annotated[str, Field(max_length=40)] = Field(description="The visitor's mobile number.")
    planned_end: UtcDatetime
    evening: bool = Field(default=False, description="Planned past office hours (the evening rule).")
    cmd_id: uuid.UUID | None = None


class VisitDetails(_VisitFact):
    """The private part of a visit: deleted by the purge after the visit's retention."""

    kind: Literal["visit_details"] = "visit_details"
    visit_id: Id
    client_name: Annotated[str, Field(max_length=120)] = ""
    address: Annotated[str, Field(max_length=200)] = ""


class OverdueRaised(_VisitFact):
    """A visit was not checked in by its planned end + grace (or the colleague could not reach the
    visitor earlier): it is an incident now."""

    kind: Literal["overdue_raised"] = "overdue_raised"
    incident_id: Id
    visit_id: Id
    person_id: Id = Field(description="The visitor.")
    team_id: Id
    planned_end: UtcDatetime
    early: bool = Field(
        default=False, description="Raised by the colleague's 'geen antwoord' before it was due."
    )


class VisitNoAnswer(_VisitFact):
    """The colleague called the visitor and got no answer ('geen antwoord'): it escalates now."""

    kind: Literal["visit_no_answer"] = "visit_no_answer"
    visit_id: Id
    incident_id: Id
    person_id: Id = Field(description="Who answered 'geen antwoord'.")
    cmd_id: uuid.UUID | None = None


class VisitEnded(_VisitFact):
    """The visit is closed: the visitor checked in, or the colleague reached them ('bereikt, alles ok')."""

    kind: Literal["visit_ended"] = "visit_ended"
    visit_id: Id
    person_id: Id = Field(description="Who checked in, or who reached the visitor.")
    how: Literal["checked_in", "reached"]
    incident_id: Id | None = Field(
        default=None, description="The visit's overdue incident, if there was one."
    )
    cmd_id: uuid.UUID | None = None


VisitFact = VisitStarted | VisitDetails | OverdueRaised | VisitNoAnswer | VisitEnded
"""Every fact about home visits."""
