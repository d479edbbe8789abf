"""Office hours and home visits (huisbezoek): when the office is open, and how an unreturned visit
escalates. Pure: the times are handed in, the helpers only compute with them.

The aggression protocol's procedure for home visits: say where you go and when you expect to be
back; report back when you return; if the visit runs long the agreed colleague calls you; no answer
means the police (101) are asked to visit the address. "Loopt je bezoek uit na 17.00 u, meld je dan
af bij de afgesproken collega": a visit planned past office hours (the evening rule) needs a
colleague named for it, who is reminded at office end (docs/VISITS.md).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Self
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator

from stilalarm.inventory.kinds import StrictModel

HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
HHMM_END = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"


def _clock(hhmm: str) -> time:
    if hhmm == "24:00":  # open until midnight
        return time.max
    h, m = hhmm.split(":")
    return time(int(h), int(m))


class OfficeHours(StrictModel):
    """When the office is open (local time, the site's time zone)."""

    start: str = Field(default="08:00", pattern=HHMM, description="Opening time (HH:MM, local).")
    end: str = Field(
        default="17:00",
        pattern=HHMM_END,
        description="Closing time (HH:MM, local; 24:00 is midnight). A home visit planned to end after "
        "it follows the evening rule: its colleague must be named and is reminded at this time.",
    )
    weekdays: tuple[int, ...] = Field(
        default=(1, 2, 3, 4, 5),
        min_length=1,
        max_length=7,
        description="Days the office is open, ISO numbers: 1 = Monday ... 7 = Sunday (default Mon-Fri).",
    )
    closed_days: tuple[date, ...] = Field(
        default=(),
        max_length=400,
        description="Closing days (holidays, bridge days: YYYY-MM-DD, local): closed all day although "
        "the weekday is an office day.",
    )

    @field_validator("weekdays")
    @classmethod
    def _days(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if any(d < 1 or d > 7 for d in v) or len(set(v)) != len(v):
            raise ValueError(f"weekdays are distinct ISO day numbers 1 (Monday) .. 7 (Sunday), got {list(v)}")
        return v

    @model_validator(mode="after")
    def _order(self) -> Self:
        if _clock(self.start) >= _clock(self.end):
            raise ValueError(f"office hours must start before they end, got {self.start}-{self.end}")
        return self

    def open_day(self, day: date) -> bool:
        """Whether the office opens on this local day (an office weekday that is no closing day)."""
        return day.isoweekday() in self.weekdays and day not in self.closed_days

    def end_on(self, at: datetime, tz: ZoneInfo) -> datetime | None:
        """The office's closing time on `at`'s local day (an aware datetime), or None on a closed day."""
        local = at.astimezone(tz)
        if not self.open_day(local.date()):
            return None
        return datetime.combine(local.date(), _clock(self.end), tz)

    def is_open(self, at: datetime, tz: ZoneInfo) -> bool:
        """Whether `at` falls within office hours."""
        local = at.astimezone(tz)
        if not self.open_day(local.date()):
            return False
        return _clock(self.start) <= local.time().replace(tzinfo=None) < _clock(self.end)


class VisitPolicy(StrictModel):
    """Home visits: when an unreturned visit becomes an incident, how it escalates, what is kept."""

    grace_min: float = Field(
        default=15,
        ge=0,
        le=240,
        description="Minutes after a visit's planned end without check-in before it is overdue: the "
        "agreed colleague is then told to call the visitor's mobile (level 1).",
    )
    answer_timeout_min: float = Field(
        default=10,
        gt=0,
        le=120,
        description="Minutes the colleague has to answer ('bereikt, alles ok' or 'geen antwoord'); "
        "without an answer the team lead is told to ask the police (101) for a visit (level 2).",
    )
    everyone_after_min: float = Field(
        default=10,
        gt=0,
        le=120,
        description="Minutes after the team lead was told, without anyone taking it up ('ik neem het "
        "op'), before everyone of the team's last escalation level is told (level 3, then repeated).",
    )
    max_hours: float = Field(
        default=12,
        gt=0,
        le=24,
        description="A visit's planned end may be at most this many hours after it is registered "
        "(a later end is a typing error, refused with a reason).",
    )
    keep_details_days: int = Field(
        default=30,
        ge=1,
        le=365,
        description="Days the client's name and the address (and the visit's mobile number) are kept "
        "after the visit is closed; `alarm-console purge` deletes them then. Only the people the "
        "visit's escalation reaches ever see them, and only while it is open.",
    )


def evening(hours: OfficeHours, tz: ZoneInfo, planned_end: datetime) -> bool:
    """Whether a visit planned to end at `planned_end` follows the evening rule: it ends outside
    office hours (after closing, before opening, or on a closed day)."""
    return not hours.is_open(planned_end, tz)


def evening_reminder_at(hours: OfficeHours, tz: ZoneInfo, started: datetime) -> datetime:
    """When the colleague of an evening visit registered at `started` is reminded: at closing time
    that day when the office is open then, else at once."""
    if hours.is_open(started, tz):
        end = hours.end_on(started, tz)
        if end is not None:
            return end
    return started


def minutes(m: float) -> timedelta:
    """A policy's minutes as a timedelta."""
    return timedelta(minutes=m)
