"""Plain records the reports are computed from. The store builds them from its event log;
everything in `stilalarm.console.reporting` is pure: records in, text/CSV/JSON/HTML out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from stilalarm.wire.messages import Registration


@dataclass(frozen=True)
class RegReport:
    """A registration's two parts ("Melding agressie"), each with its own author and time."""

    registration_id: str
    victim: str
    filed_at: datetime
    occurred_at: datetime
    place_kind: str
    what_happened: str
    how_are_you: str
    special: tuple[str, ...]
    """The special cases ticked: weapon, stalking, telephone_stalking, damage_belongings, animals,
    alcohol_drugs, sexual_intimidation."""
    completed_by: str | None = None
    completed_at: datetime | None = None
    lead_note: str = ""
    corrected_by: tuple[str, ...] = ()
    """Who corrected a part after it was in (each once, in order); the parts above are the newest."""
    corrected_at: datetime | None = None
    """The newest correction."""


@dataclass(frozen=True)
class IncidentRecord:
    """One incident as the protocol's registration ("Melding agressie") needs it."""

    incident_id: str
    site_id: str
    building: str
    room_id: str
    room_label: str
    room_kind: str  # balie / spreekkamer / wachtzaal / onthaal / bureau / telefoon / huisbezoek
    team_id: str
    team_name: str
    unit_id: str
    pressed_at: datetime
    """The press by the UNIT's clock (occurred_at): secondary, shown as `unit_time`, never used for
    periods, order or response times (a unit's clock may be off by an hour or be in 1970)."""
    stored_at: datetime
    """When the console stored the press, by its own clock: the incident's time in every report."""
    presses: int
    first_notified_at: datetime | None
    levels_reached: int
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    registration: Registration | None  # None while unresolved
    aftercare_reminded_at: tuple[datetime, ...] = ()  # after-care reminders sent to the resolver
    aftercare_done_by: str | None = None
    aftercare_done_at: datetime | None = None
    aftercare_note: str = ""
    kind: str = "alarm"
    """alarm (a press) or overdue (a home visit nobody heard back from: room and unit are empty)."""
    visit_address: str = ""
    """An overdue visit's address, only when it escalated (the lead, the police instruction) and the
    purge has not deleted it yet; never for a visit closed at the colleague's level."""
    report: RegReport | None = None
    """The registration filed for it (the victim's part, the lead's part), if any. A registration
    without an alarm is a record of its own: `kind` registration, no unit, `stored_at` when it happened."""
    declined_by: tuple[str, ...] = ()
    """Who said 'kan niet komen', in order."""
    on_site_at: datetime | None = None
    """When the acknowledger marked 'ter plaatse' (console time)."""
    nobody_reachable: bool = False
    """Nobody on the whole escalation was reachable (absent or declined); the desk was told."""
    presses_after_ack: int = 0
    """Presses of the desk after 'ik kom' ('still in danger')."""

    @property
    def ack_seconds(self) -> float | None:
        """Seconds from the stored press to the acknowledgement, if acknowledged (both console times)."""
        if self.acknowledged_at is None:
            return None
        return (self.acknowledged_at - self.stored_at).total_seconds()

    @property
    def on_site_seconds(self) -> float | None:
        """Seconds from the stored press to 'ter plaatse', if marked (both console times)."""
        if self.on_site_at is None:
            return None
        return (self.on_site_at - self.stored_at).total_seconds()


class TestOutcome(StrEnum):
    __test__ = False  # not a pytest test class
    OK = "ok"  # pressed in the campaign, stored, confirmed
    FAILED = "failed"  # a fault was found on the button during the campaign
    NOT_TESTED = "not_tested"  # not pressed before the campaign ended


@dataclass(frozen=True)
class ButtonTestRecord:
    """One button's result in one test campaign."""

    campaign_id: str
    unit_id: str
    button_id: str
    room_id: str
    room_label: str
    team_id: str
    started_at: datetime
    started_by: str
    outcome: TestOutcome
    tested_at: datetime | None = None
    latency_ms: float | None = None  # press -> stored receipt
    led_confirmed: bool = False
    faults: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class OfflineSpan:
    """A unit was offline from `start` to `end` (None: still offline at report time)."""

    unit_id: str
    start: datetime
    end: datetime | None
