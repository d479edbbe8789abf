"""Registrations in the export and the monthly report (pure): a registration without alarm is a
row of its own, one after an alarm joins the alarm's row, the old columns keep their order, and the
board's figures count every registration by place, form, severity and team."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from stilalarm.console.facts import AlarmReceived, Fact, Resolved
from stilalarm.console.regfacts import RegistrationCompleted, RegistrationFiled
from stilalarm.console.reporting import export, monthly
from stilalarm.console.reporting.fold import build
from stilalarm.devkit.webrun import VISIT_SITE
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import AggressionType, PlaceKind, Registration, Severity

SITE = parse_site(VISIT_SITE)
TZ = ZoneInfo(SITE.site.timezone)
T0 = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
OLD_KEYS = [c.key for c in export.COLUMNS][: [c.key for c in export.COLUMNS].index("visit_address") + 1]


def filed(reg: str, at: datetime, **kw: object) -> RegistrationFiled:
    base: dict[str, object] = {
        "at": at,
        "registration_id": reg,
        "person_id": "hanne",
        "team_id": "sociale-dienst",
        "place_kind": PlaceKind.TELEFOON,
        "occurred_at": at - timedelta(hours=1),
        "what_happened": "Dreigde aan de telefoon.",
        "aggression_types": (AggressionType.VERBAAL,),
    }
    return RegistrationFiled(**(base | kw))  # type: ignore[arg-type]


def log() -> list[Fact]:
    alarm = AlarmReceived(
        at=T0,
        incident_id="inc-20261110-1",
        unit_id="balie-1",
        button_id="knop",
        room_id="balie-1",
        team_id="onthaal",
        event_id=uuid.uuid4(),
        pressed_at=T0,
        sent_at=T0,
    )
    reg = Registration(
        aggression_types=(AggressionType.FYSIEK,), severity=Severity.GEWELD, police_called=True
    )
    return [
        alarm,
        Resolved(
            at=T0 + timedelta(minutes=5), incident_id=alarm.incident_id, person_id="chris", registration=reg
        ),
        filed(
            "reg-a",
            T0 + timedelta(hours=2),
            incident_id=alarm.incident_id,
            place_kind=PlaceKind.BALIE,
            person_id="ilse",
            team_id="onthaal",
            weapon=True,
        ),
        filed("reg-b", T0 + timedelta(days=1), telephone_stalking=True),
        RegistrationCompleted(
            at=T0 + timedelta(days=2), registration_id="reg-b", person_id="an", severity=Severity.AGRESSIE
        ),
        filed("reg-c", T0 + timedelta(days=3), place_kind=PlaceKind.BUITEN, team_id="onthaal"),
    ]


def test_the_export_has_a_row_per_alarm_and_per_registration_without_alarm() -> None:
    recs = build(SITE, log()).incidents
    rows = {r["incident_id"]: r for r in export.rows(recs, TZ)}
    assert set(rows) == {"inc-20261110-1", "reg-b", "reg-c"}
    a = rows["inc-20261110-1"]
    assert a["registration_id"] == "reg-a" and a["reported_by"] == "ilse" and a["weapon"] == "ja"
    assert a["severity"] == "geweld" and a["completed_by"] == "chris" and a["complete"] == "ja"
    b = rows["reg-b"]
    assert b["incident_kind"] == "registration" and b["place_type"] == "telefoon" and b["unit"] == ""
    assert b["telephone_stalking"] == "ja" and b["stalking"] == "nee" and b["severity"] == "agressie"
    assert b["completed_by"] == "an" and b["completed_at"] == "2026-11-12 10:00:00"
    assert (
        b["date"] == "2026-11-11" and b["time"] == "09:00:00" and b["pressed_at"] == "" and b["presses"] == 0
    )
    c = rows["reg-c"]
    assert c["complete"] == "nee" and c["severity"] == "" and c["aggression_types"] == "verbaal"
    assert c["place_type"] == "buiten" and c["department"] == "Onthaal"


def test_old_columns_keep_their_place_and_new_ones_come_after() -> None:
    text = export.to_csv(build(SITE, log()).incidents, TZ)
    header = next(csv.reader(io.StringIO(text)))
    nl = [c.nl for c in export.COLUMNS]
    assert header == nl and header.index("adres_huisbezoek") == len(OLD_KEYS) - 1
    new = header[len(OLD_KEYS) :]
    assert new[0] == "registratie" and "volledig" in new  # the registration's columns, then later ones
    assert new.index("volledig") < new.index("kan_niet_komen")  # the responses' columns came after


def test_the_month_counts_every_registration_by_place_form_severity_and_team() -> None:
    recs = build(SITE, log()).incidents
    f = monthly.compute(SITE, "2026-11", recs, [], [], now=T0 + timedelta(days=30))
    assert f.incidents == 3
    assert f.per_place_type == {"balie": 1, "telefoon": 1, "buiten": 1}
    assert f.per_aggression_type == {"fysiek": 1, "verbaal": 2}
    assert f.per_severity == {"geweld": 1, "agressie": 1, monthly.UNREGISTERED: 1}
    assert f.per_team == {"Onthaal": 2, "Sociale dienst": 1}
    assert f.unacknowledged == 1 and f.levels_reached == {"0": 1}  # the alarm only


def test_who_may_read_what_the_victim_their_own_a_lead_their_teams_prevention_all() -> None:
    from stilalarm.console.reporting.access import visible

    recs = build(SITE, log()).incidents

    def ids(person: str, *, mine: bool = False) -> set[str]:
        return {r.incident_id for r in visible(SITE, person, recs, mine=mine)}

    assert ids("hanne") == {"reg-b", "reg-c"}  # she filed both (reg-c for the onthaal team)
    assert ids("ilse") == {"inc-20261110-1"}  # she filed the alarm's registration
    assert ids("an") == {"reg-b"}  # lead of sociale-dienst, and she completed it
    assert ids("chris") == {"inc-20261110-1", "reg-c"}  # lead of onthaal
    assert ids("dirk") == {"inc-20261110-1", "reg-b", "reg-c"}  # Preventie
    assert ids("fien") == set()  # facilities: nothing
    assert ids("dirk", mine=True) == set() and ids("chris", mine=True) == {"inc-20261110-1"}
    assert ids("nobody") == set()


def test_registrations_are_kept_five_years_then_deleted_whole() -> None:
    from stilalarm.console.retention import plan
    from stilalarm.inventory.policies import RetentionPolicy

    facts = list(enumerate(log(), start=1))
    kinds = {seq: f.kind for seq, f in facts}
    later = T0 + timedelta(days=1826)  # five years after: nothing is old enough yet
    assert not [s for s in plan(facts, RetentionPolicy(), later).seqs if kinds[s].startswith("registration")]
    p = plan(facts, RetentionPolicy(), T0 + timedelta(days=1830))
    gone = sorted(kinds[s] for s in p.seqs)
    # the alarm's registration with its incident; reg-b both parts; reg-c (never completed) too
    assert gone.count("registration_filed") == 3 and gone.count("registration_completed") == 1
    assert "inc-20261110-1" in p.incidents
    young = plan(facts, RetentionPolicy(registrations_days=1828), T0 + timedelta(days=1830))
    left = {facts[s - 1][1].registration_id for s in young.seqs if kinds[s].startswith("registration")}  # type: ignore[union-attr]
    assert left == {"reg-a"}  # reg-b completed 2 days in and reg-c filed 3 days in: kept a day longer
