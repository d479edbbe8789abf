"""Office hours with closing days, and who is told that a room has no working button (pure, time injected)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from stilalarm.console.config import SupervisionPolicy
from stilalarm.console.core import supervision
from stilalarm.console.core.effects import Notify
from stilalarm.console.core.supervision import StatusIn, UnitsState
from stilalarm.devkit.servicerun import FAST_SITE
from stilalarm.inventory.load import parse_site
from stilalarm.inventory.visits import OfficeHours
from stilalarm.wire.messages import LinkState, UnitStatus

ALWAYS = 'office_hours = { start = "00:00", end = "24:00", weekdays = [1, 2, 3, 4, 5, 6, 7] }  # always open'
HOURS = (
    'office_hours = { start = "08:00", end = "17:00", weekdays = [1, 2, 3, 4, 5], '
    + "closed_days = [2026-12-25] }"
)
SITE = parse_site(FAST_SITE.replace(ALWAYS, HOURS))
TZ = ZoneInfo("Europe/Brussels")
FACILITIES = ("fien", "gert")


def local(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=TZ).astimezone(UTC)


def test_fast_site_is_always_open_and_the_test_site_has_its_hours() -> None:
    assert ALWAYS in FAST_SITE
    hours = SITE.site.office_hours
    assert hours.closed_days == (date(2026, 12, 25),)
    assert hours.is_open(local(2026, 12, 24, 9), TZ)  # Thursday
    assert not hours.is_open(local(2026, 12, 25, 9), TZ)  # Friday, Christmas: closing day
    assert hours.end_on(local(2026, 12, 25, 9), TZ) is None
    assert not hours.is_open(local(2026, 12, 24, 17), TZ) and not hours.is_open(
        local(2026, 12, 24, 7, 59), TZ
    )
    always = parse_site(FAST_SITE).site.office_hours
    assert always.is_open(local(2026, 12, 26, 23, 59), TZ) and always.is_open(local(2026, 12, 26, 0, 0), TZ)


@pytest.mark.parametrize(
    "bad",
    [
        {"closed_days": ["2026-13-01"]},
        {"closed_days": ["morgen"]},
        {"start": "24:00"},
        {"end": "24:30"},
        {"start": "18:00", "end": "08:00"},
    ],
)
def test_bad_office_hours_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        OfficeHours.model_validate(bad)


def _unit_lost_at(now: datetime) -> list[tuple[str, tuple[str, ...]]]:
    s = UnitsState.initial(SITE, now, SupervisionPolicy(flap_window_s=600))
    boots = {u.id: uuid.uuid4() for u in SITE.units}
    for uid, b in boots.items():
        s, _ = supervision.step(
            s, StatusIn(UnitStatus(unit_id=uid, state=LinkState.ONLINE, boot_id=b, reason="connected")), now
        )
    s, eff = supervision.step(
        s,
        StatusIn(
            UnitStatus(unit_id="balie-1", state=LinkState.OFFLINE, boot_id=boots["balie-1"], reason="lost")
        ),
        now,
    )
    return [(e.notice.text_key, e.notice.person_ids) for e in eff if isinstance(e, Notify)]


def test_an_unprotected_room_is_told_to_its_lead_while_the_building_is_open() -> None:
    assert _unit_lost_at(local(2026, 12, 24, 10)) == [
        ("offline_lost", FACILITIES),
        ("unprotected", ("chris",)),
    ]


@pytest.mark.parametrize(
    "when",
    [local(2026, 12, 24, 22), local(2026, 12, 24, 6), local(2026, 12, 26, 10), local(2026, 12, 25, 10)],
    ids=["night", "early", "saturday", "closing-day"],
)
def test_an_unprotected_room_outside_office_hours_goes_to_facilities_only(when: datetime) -> None:
    assert _unit_lost_at(when) == [("offline_lost", FACILITIES), ("unprotected", FACILITIES)]
