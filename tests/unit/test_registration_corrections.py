"""Corrections of a registration's part in the pure engine, time injected (docs/REGISTRATION.md):
who may correct which part, refusals that change nothing, the earlier version kept in the log, the
export and the record showing the newest, Preventie told when the registration had been sent."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from stilalarm.console.core import engine
from stilalarm.console.core.effects import Effect, Notify, Record, Reply
from stilalarm.console.core.engine import EngineState, PersonCmdIn
from stilalarm.console.core.engine.fold import rebuild
from stilalarm.console.facts import AlarmReceived, CommandRejected, Fact
from stilalarm.console.regfacts import RegistrationCorrected, RegistrationFiled
from stilalarm.console.reporting import export
from stilalarm.console.reporting.access import appears_in
from stilalarm.console.reporting.fold import build
from stilalarm.devkit.webrun import VISIT_SITE
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import (
    AckCmd,
    AggressionType,
    ContractError,
    LeadPart,
    PlaceKind,
    Registration,
    RegistrationCompleteCmd,
    RegistrationCorrectCmd,
    RegistrationFileCmd,
    ResolveCmd,
    Severity,
    VictimPart,
    encode,
    parse_person_command,
)

# sociale-dienst: lead an, deputies dirk (also Preventie) and bart; hanne and ilse are staff
SITE = parse_site(VISIT_SITE.replace('deputies = ["dirk"]', 'deputies = ["dirk", "bart"]', 1))
TZ = ZoneInfo(SITE.site.timezone)
T0 = datetime(2026, 11, 25, 9, 0, 0, tzinfo=UTC)
WHAT = "De klant schold mij uit aan de balie."
BETTER = "De klant schold mij uit en gooide een stoel om."


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def head(person: str) -> dict[str, object]:
    return {"cmd_id": uuid.uuid4(), "person_id": person, "issued_at": T0}


def file(person: str = "hanne", reg: str = "reg-1", **kw: object) -> PersonCmdIn:
    kw.setdefault("place_kind", PlaceKind.BALIE)
    kw.setdefault("what_happened", WHAT)
    kw.setdefault("aggression_types", (AggressionType.VERBAAL,))
    return PersonCmdIn(RegistrationFileCmd(registration_id=reg, **kw, **head(person)))  # type: ignore[arg-type]


def complete(person: str = "an", reg: str = "reg-1", **kw: object) -> PersonCmdIn:
    kw.setdefault("severity", Severity.BOOSHEID)
    return PersonCmdIn(RegistrationCompleteCmd(registration_id=reg, **kw, **head(person)))  # type: ignore[arg-type]


def fix_victim(person: str = "hanne", reg: str = "reg-1", **kw: object) -> PersonCmdIn:
    kw.setdefault("what_happened", BETTER)
    kw.setdefault("aggression_types", (AggressionType.VERBAAL, AggressionType.FYSIEK))
    part = VictimPart(**kw)  # type: ignore[arg-type]
    return PersonCmdIn(RegistrationCorrectCmd(registration_id=reg, victim=part, **head(person)))  # type: ignore[arg-type]


def fix_lead(person: str = "an", reg: str = "reg-1", **kw: object) -> PersonCmdIn:
    kw.setdefault("severity", Severity.AGRESSIE)
    part = LeadPart(**kw)  # type: ignore[arg-type]
    return PersonCmdIn(RegistrationCorrectCmd(registration_id=reg, lead=part, **head(person)))  # type: ignore[arg-type]


class Run:
    def __init__(self) -> None:
        self.s = EngineState.initial(SITE)
        self.log: list[Effect] = []
        self.before: list[Fact] = []

    def __call__(self, inp: engine.Input, t: float) -> list[Effect]:
        self.s, eff = engine.step(self.s, inp, at(t))
        self.log += eff
        return eff

    def facts(self) -> list[Fact]:
        return [*self.before, *(e.fact for e in self.log if isinstance(e, Record))]  # type: ignore[misc]


def reply(eff: list[Effect]) -> Reply:
    (r,) = [e for e in eff if isinstance(e, Reply)]
    return r


def notes(eff: list[Effect], key: str) -> list[object]:
    return [e.notice for e in eff if isinstance(e, Notify) and e.notice.text_key == key]


def test_the_victim_corrects_her_part_before_it_is_complete_and_the_lead_completes_the_new_one() -> None:
    run = Run()
    run(file(), 10)
    eff = run(fix_victim(), 20)
    assert reply(eff).ok and notes(eff, "registration_corrected") == []  # not sent to Preventie yet
    (fact,) = [e.fact for e in eff if isinstance(e, Record)]
    assert isinstance(fact, RegistrationCorrected) and (fact.person_id, fact.at, fact.part) == (
        "hanne",
        at(20),
        "victim",
    )
    case_ = run.s.registrations["reg-1"]
    assert case_.filed is not None and case_.filed.what_happened == BETTER and case_.corrections == 1
    # the earlier version stays in the log with its author and time
    (first,) = [f for f in run.facts() if isinstance(f, RegistrationFiled)]
    assert (first.what_happened, first.person_id, first.at) == (WHAT, "hanne", at(10))
    (done,) = notes(run(complete(), 30), "registration_done")
    rec = json.loads(done.detail["record"])  # type: ignore[attr-defined]
    assert rec["what_happened"] == BETTER and rec["aggression_types"] == ["verbaal", "fysiek"]
    assert rebuild(SITE, run.facts()).registrations == run.s.registrations


def test_a_correction_after_it_went_to_preventie_goes_there_too_with_the_new_record() -> None:
    from stilalarm.console.delivery.render import render

    run = Run()
    run(file(), 10)
    run(complete(), 20)
    eff = run(fix_lead(police_called=True, pv_number="PV 9/1", note="later gehoord: een duw"), 30)
    assert reply(eff).ok
    (n,) = notes(eff, "registration_corrected")
    assert n.person_ids == ("dirk",)  # type: ignore[attr-defined]
    rec = json.loads(n.detail["record"])  # type: ignore[attr-defined]
    assert (rec["severity"], rec["pv_number"], rec["completed_by"]) == ("agressie", "PV 9/1", "an")
    assert (rec["corrected_by"], rec["corrected_part"], rec["correction"]) == ("an", "lead", "1")
    assert rec["what_happened"] == WHAT
    out = render(SITE, n, "dirk", n.notification_ids[0], None)  # type: ignore[arg-type, attr-defined]
    assert out.record == n.detail["record"] and "gecorrigeerd" in out.title  # type: ignore[attr-defined]
    # a second correction is a second notice (its own ids), the victim's this time
    (n2,) = notes(run(fix_victim(), 40), "registration_corrected")
    assert set(n2.notification_ids).isdisjoint(n.notification_ids)  # type: ignore[attr-defined]
    assert json.loads(n2.detail["record"])["what_happened"] == BETTER  # type: ignore[attr-defined]
    assert rebuild(SITE, run.facts()).registrations == run.s.registrations


def test_another_lead_or_deputy_of_the_team_corrects_the_leads_part() -> None:
    run = Run()
    run(file(), 10)
    run(complete(), 20)
    assert reply(run(fix_lead(person="bart"), 30)).ok
    assert run.s.registrations["reg-1"].lead == {
        "severity": "agressie",
        "police_called": False,
        "pv_number": None,
        "sanctions": [],
        "occupational_accident": False,
        "aftercare": [],
        "note": "",
    }


@pytest.mark.parametrize(
    ("inp", "code", "key"),
    [
        (fix_victim(reg="reg-x"), "unknown_target", "reply_registration_unknown"),
        (fix_victim(person="ilse"), "not_authorised", "reply_registration_correct_victim"),  # a colleague
        (fix_victim(person="an"), "not_authorised", "reply_registration_correct_victim"),  # even the lead
        (fix_lead(person="hanne"), "not_authorised", "reply_registration_correct_lead"),  # the victim
        (fix_lead(person="dirk"), "not_authorised", "reply_registration_correct_lead"),  # Preventie
        (fix_lead(person="chris"), "not_authorised", "reply_registration_correct_lead"),  # another team
        (fix_lead(person="nobody"), "not_authorised", "reply_not_authorised"),
    ],
)
def test_refused_with_a_reason_and_nothing_changes(inp: PersonCmdIn, code: str, key: str) -> None:
    run = Run()
    run(file(), 10)
    run(complete(), 20)
    before = run.s.registrations
    eff = run(inp, 30)
    r = reply(eff)
    assert (r.ok, r.code, r.text_key) == (False, code, key)
    assert [type(e.fact) for e in eff if isinstance(e, Record)] == [CommandRejected]
    assert not [e for e in eff if isinstance(e, Notify)]
    assert run.s.registrations == before


def test_the_leads_part_is_completed_before_it_is_corrected_and_the_weapon_rule_holds() -> None:
    run = Run()
    run(file(weapon=True, aggression_types=(AggressionType.FYSIEK,)), 10)
    r = reply(run(fix_lead(severity=Severity.GEWELD, police_called=True), 20))
    assert (r.ok, r.code, r.text_key) == (False, "invalid", "reply_registration_correct_incomplete")
    run(complete(severity=Severity.GEWELD, police_called=True), 30)
    before = run.s.registrations
    r = reply(run(fix_lead(severity=Severity.BOOSHEID, police_called=True), 40))
    assert (r.ok, r.text_key) == (False, "reply_registration_weapon") and run.s.registrations == before


def test_the_same_correction_again_is_answered_and_records_nothing() -> None:
    run = Run()
    run(file(), 10)
    run(fix_victim(), 20)
    eff = run(fix_victim(), 21)  # a retry (no reply the first time) or nothing new
    assert reply(eff).ok and not [e for e in eff if isinstance(e, Record)]
    assert run.s.registrations["reg-1"].corrections == 1


def test_oversized_text_and_a_correction_of_no_part_or_both_parts_are_refused_on_the_wire() -> None:
    base = {
        "v": 1,
        "kind": "registration_correct",
        "cmd_id": str(uuid.uuid4()),
        "person_id": "hanne",
        "issued_at": "2026-11-25T09:00:00Z",
        "registration_id": "reg-1",
    }
    victim = {"what_happened": "x" * 4001, "aggression_types": ["verbaal"]}
    with pytest.raises(ContractError):
        parse_person_command(json.dumps({**base, "victim": victim}))
    with pytest.raises(ContractError):
        parse_person_command(json.dumps({**base, "lead": {"severity": "agressie", "note": "n" * 1001}}))
    with pytest.raises(ContractError):
        parse_person_command(json.dumps(base))
    ok_victim = {"what_happened": "ok ok", "aggression_types": ["verbaal"]}
    with pytest.raises(ContractError):
        parse_person_command(json.dumps({**base, "victim": ok_victim, "lead": {"severity": "agressie"}}))
    ok = parse_person_command(json.dumps({**base, "victim": ok_victim}))
    assert isinstance(ok, RegistrationCorrectCmd) and parse_person_command(encode(ok)) == ok


def _alarm() -> AlarmReceived:
    return AlarmReceived(
        at=at(0),
        incident_id="inc-20261125-1",
        unit_id="balie-1",
        button_id="knop",
        room_id="balie-1",
        team_id="onthaal",
        event_id=uuid.uuid4(),
        pressed_at=at(0),
        sent_at=at(0),
    )


def test_the_export_shows_the_newest_parts_and_who_corrected_them_in_the_last_columns() -> None:
    """An alarm resolved by lead Chris (the lead's part), Ilse's part filed; both corrected."""
    run = Run()
    run.before = [_alarm()]
    run.s = rebuild(SITE, run.before)
    iid = "inc-20261125-1"
    run(PersonCmdIn(AckCmd(incident_id=iid, **head("chris"))), 5)  # type: ignore[arg-type]
    reg = Registration(aggression_types=(AggressionType.VERBAAL,), severity=Severity.BOOSHEID, note="rustig")
    run(PersonCmdIn(ResolveCmd(incident_id=iid, registration=reg, **head("chris"))), 6)  # type: ignore[arg-type]
    run(file(person="ilse", incident_id=iid, place_kind=None), 10)
    assert run.s.registrations["reg-1"].complete
    assert reply(run(fix_victim(person="ilse"), 20)).ok
    assert reply(run(fix_lead(person="chris", police_called=True, note="toch een duw"), 30)).ok
    (rec,) = [r for r in build(SITE, run.facts()).incidents if r.incident_id == iid]
    (row,) = export.rows([rec], TZ)
    assert row["what_happened"] == BETTER and row["severity"] == "agressie"
    assert row["reported_by"] == "ilse" and row["completed_by"] == "chris"
    assert list(row)[-2:] == ["corrected_by", "corrected_at"]
    assert row["corrected_by"] == "ilse;chris" and row["corrected_at"].endswith(
        at(30).astimezone(TZ).strftime("%H:%M:%S")
    )
    assert appears_in("ilse", rec) and appears_in("chris", rec)


def test_the_alarms_history_says_who_corrected_which_part_not_what() -> None:
    from stilalarm.console.timeline import Timelines

    run = Run()
    run.before = [_alarm()]
    run.s = rebuild(SITE, run.before)
    run(file(person="ilse", incident_id="inc-20261125-1", place_kind=None), 5)
    run(fix_victim(person="ilse"), 6)
    tl = Timelines(SITE)
    for f in run.facts():
        tl.add(f)
    line = tl.timeline("inc-20261125-1", 1)
    assert line is not None
    kinds = [e.kind for e in line.entries]
    assert kinds[-2:] == ["registration", "registration_corrected"]
    assert line.entries[-1].text == "Melding agressie (deel slachtoffer) gecorrigeerd door Ilse Jacobs"
    assert all("stoel" not in e.text for e in line.entries)


def test_a_correction_is_kept_and_deleted_with_its_registration() -> None:
    """Retention: the corrected parts go with the registration, and a correction keeps a
    registration without alarm as long as its newest part (docs/REGISTRATION.md, retention)."""
    from stilalarm.console.retention import plan
    from stilalarm.inventory.policies import RetentionPolicy

    run = Run()
    run(file(), 0)
    run(complete(), 10)
    run(fix_victim(), 2 * 86400)  # two days later
    facts = list(enumerate(run.facts(), start=1))
    kinds = {seq: f.kind for seq, f in facts}
    reg_kinds = ("registration_filed", "registration_completed", "registration_corrected")
    days = RetentionPolicy().registrations_days
    kept = plan(facts, RetentionPolicy(), T0 + timedelta(days=days, hours=1))  # filed, completed: old
    assert not [s for s in kept.seqs if kinds[s] in reg_kinds]  # the correction is younger: all kept
    gone = plan(facts, RetentionPolicy(), T0 + timedelta(days=days + 3))
    assert sorted(kinds[s] for s in gone.seqs if kinds[s] in reg_kinds) == sorted(reg_kinds)
