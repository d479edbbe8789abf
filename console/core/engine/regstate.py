"""The engine's view of one registration ("Melding agressie"): who owes which part, and reminders."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel

from stilalarm.console.regfacts import RegistrationFiled
from stilalarm.wire.messages import Registration

LEAD_FIELDS = frozenset(
    {"severity", "police_called", "pv_number", "sanctions", "occupational_accident", "aftercare", "note"}
)
"""The lead's part's fields: in `registration_complete`, in a resolve's registration, in a correction."""


def lead_fields(part: BaseModel | None) -> dict[str, object]:
    """The lead's part's fields of a completion, a resolve's registration or a correction (JSON)."""
    return {} if part is None else part.model_dump(mode="json", include=set(LEAD_FIELDS))


REMIND_AFTER_H = (24, 72, 168)
"""An incomplete registration is reminded to whoever owes their part this many hours after it was
filed (then no more: Preventie sees the incomplete ones in the export)."""


@dataclass(frozen=True)
class RegCase:
    """One registration as the engine knows it (folded from `RegistrationFiled` / `RegistrationCompleted`).

    Kept for as long as the log is (a handful a week): a retried part is answered, not redone."""

    id: str
    victim: str
    team_id: str
    filed_at: datetime
    incident_id: str | None = None
    place_kind: str = ""
    room_id: str | None = None
    weapon: bool = False
    file_cmd: uuid.UUID | None = None
    lead_by: str | None = None
    lead_at: datetime | None = None
    lead_cmd: uuid.UUID | None = None
    reminders_sent: int = 0
    filed: RegistrationFiled | None = None
    """The victim's part, as corrected (for the record Preventie gets, and to answer a repeated
    correction)."""
    lead: Mapping[str, object] | None = None
    """The lead's part's fields (JSON), as corrected: from `registration_complete` or the resolve."""
    corrections: int = 0

    @property
    def complete(self) -> bool:
        return self.lead_by is not None


@dataclass(frozen=True)
class OwedPart:
    """A panic-page alarm resolved without the victim's part: its person is reminded to file it
    (`RegistrationOwed`), REMIND_AFTER_H after the resolve, until they file it. It keeps what the
    victim's part needs of the alarm, which leaves the engine's memory a day after its resolve."""

    incident_id: str
    person_id: str
    team_id: str
    since: datetime
    """The resolve (its lead's part)."""
    resolved_by: str = ""
    room_id: str | None = None
    occurred_at: datetime | None = None
    """When the console stored the alarm (the registration's time)."""
    registration: Registration | None = None
    """The resolve's registration: the lead's part, for Preventie's record once she files."""
    reminders_sent: int = 0
