"""Registrations ("Melding agressie") in the pure engine, time injected: the victim's part and the
lead's part with their own author and time, refusals that change nothing, the weapon rule, an
alarm's resolve as the lead's part, reminders to the team's leads, Preventie told when complete,
and a rebuild from the log giving the same state."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from stilalarm.console.core import engine
from stilalarm.console.core.effects import Effect, Notify, Record, Reply
from stilalarm.console.core.engine import EngineState, PersonCmdIn, Tick
from stilalarm.console.core.engine.fold import rebuild
from stilalarm.console.facts import CommandRejected
from stilalarm.console.regfacts import RegistrationCompleted, RegistrationFiled
from stilalarm.devkit.webrun import VISIT_SITE
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import (
    AggressionType,
    ContractError,
    Notification,
    PlaceKind,
    RegistrationCompleteCmd,
    RegistrationFileCmd,
    Severity,
    encode,
    parse_person_command,
)

SITE = parse_site(VISIT_SITE)  # hanne, ilse: staff of sociale-dienst (lead an, deputy dirk = prevention)
T0 = datetime(2026, 11, 25, 9, 0, 0, tzinfo=UTC)
H = 3600.0


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def file(person: str = "hanne", reg: str = "reg-1", **kw: object) -> PersonCmdIn:
    kw.setdefault("place_kind", PlaceKind.BALIE)
    kw.setdefault("what_happened", "De klant schold mij uit aan de balie.")
    kw.setdefault("aggression_types", (AggressionType.VERBAAL,))
    return PersonCmdIn(
        RegistrationFileCmd(cmd_id=uuid.uuid4(), person_id=person, issued_at=T0, registration_id=reg, **kw)
    )


def complete(person: str = "an", reg: str = "reg-1", **kw: object) -> PersonCmdIn:
    kw.setdefault("severity", Severity.BOOSHEID)
    return PersonCmdIn(
        RegistrationCompleteCmd(
            cmd_id=uuid.uuid4(), person_id=person, issued_at=T0, registration_id=reg, **kw
        )
    )


class Run:
    def __init__(self) -> None:
        self.s = EngineState.initial(SITE)
        self.log: list[Effect] = []

    def __call__(self, inp: engine.Input, t: float) -> list[Effect]:
        self.s, eff = engine.step(self.s, inp, at(t))
        self.log += eff
        return eff

    def facts(self) -> list[object]:
        return [e.fact for e in self.log if isinstance(e, Record)]


def reply(eff: list[Effect]) -> Reply:
    (r,) = [e for e in eff if isinstance(e, Reply)]
    return r


def test_both_parts_with_their_own_author_and_time_then_prevention_is_told() -> None:
    run = Run()
    assert reply(run(file(), 10)).ok
    filed = [f for f in run.facts() if isinstance(f, RegistrationFiled)]
    assert filed[0].person_id == "hanne" and filed[0].at == at(10) and filed[0].team_id == "sociale-dienst"
    assert not run.s.registrations["reg-1"].complete
    eff = run(complete(police_called=True, pv_number="PV 12/345"), 20)
    assert reply(eff).ok
    done = [f for f in run.facts() if isinstance(f, RegistrationCompleted)]
    assert done[0].person_id == "an" and done[0].at == at(20) and done[0].pv_number == "PV 12/345"
    told = [e.notice for e in eff if isinstance(e, Notify)]
    assert told[0].person_ids == ("dirk",) and told[0].text_key == "registration_done"
    assert run.s.registrations["reg-1"].complete


def test_a_retry_is_answered_and_records_nothing_new() -> None:
    run = Run()
    first = file()
    run(first, 10)
    eff = run(first, 11)
    assert reply(eff).ok and not [e for e in eff if isinstance(e, Record)]


@pytest.mark.parametrize(
    ("inp", "code", "key"),
    [
        (complete(reg="reg-x"), "unknown_target", "reply_registration_unknown"),
        (complete(person="chris"), "not_authorised", "reply_registration_not_lead"),
        (complete(person="ilse"), "not_authorised", "reply_registration_not_lead"),
        (file(person="ilse"), "invalid", "reply_registration_id_taken"),
        (file(reg="reg-2", incident_id="inc-20261125-9"), "unknown_incident", "reply_unknown_incident"),
        (file(reg="reg-2", room_id="nowhere"), "unknown_target", "reply_unknown_target"),
        (file(person="chris", reg="reg-2", occurred_at=at(3 * H)), "invalid", "reply_registration_future"),
    ],
)
def test_refused_with_a_reason_and_nothing_changes(inp: PersonCmdIn, code: str, key: str) -> None:
    run = Run()
    run(file(), 10)
    before = run.s.registrations
    eff = run(inp, 20)
    r = reply(eff)
    assert (r.ok, r.code, r.text_key) == (False, code, key)
    recorded = [e.fact for e in eff if isinstance(e, Record)]
    assert [type(f) for f in recorded] == [CommandRejected]
    assert run.s.registrations == before


def test_completed_once_only() -> None:
    run = Run()
    run(file(), 10)
    run(complete(), 20)
    r = reply(run(complete(person="dirk"), 30))
    assert (r.ok, r.code) == (False, "already_resolved")


def test_a_weapon_is_always_aggression_and_police_at_once() -> None:
    run = Run()
    run(file(weapon=True, aggression_types=(AggressionType.FYSIEK,)), 10)
    assert reply(run(complete(severity=Severity.BOOSHEID, police_called=True), 20)).code == "invalid"
    assert reply(run(complete(severity=Severity.GEWELD), 21)).text_key == "reply_registration_weapon"
    assert reply(run(complete(severity=Severity.GEWELD, police_called=True), 22)).ok


def test_room_gives_team_and_without_team_or_room_it_is_refused() -> None:
    run = Run()
    assert reply(run(file(person="hanne", reg="reg-2", room_id="wachtzaal"), 10)).ok  # onthaal's room
    assert run.s.registrations["reg-2"].team_id == "sociale-dienst"  # her own team's lead completes it
    assert reply(run(file(person="els", reg="reg-4", room_id="spreekkamer-1"), 10)).ok  # in no team
    assert run.s.registrations["reg-4"].team_id == "sociale-dienst"  # the room's team
    r = reply(run(file(person="els", reg="reg-3"), 11))  # reception, no team, no room
    assert r.text_key == "reply_registration_no_team"


def test_reminders_go_to_the_leads_until_complete_and_survive_a_rebuild() -> None:
    run = Run()
    run(file(), 0)
    assert engine.next_due(run.s) == at(24 * H)
    run(Tick(), 24 * H - 1)
    eff = run(Tick(), 24 * H)
    (n,) = [e.notice for e in eff if isinstance(e, Notify)]
    assert n.person_ids == ("an", "dirk") and n.text_key == "registration_remind" and n.detail["step"] == "1"
    assert engine.next_due(run.s) == at(72 * H)
    again = rebuild(SITE, run.facts())  # type: ignore[arg-type]
    assert again.registrations == run.s.registrations
    run(complete(), 30 * H)
    assert engine.next_due(run.s) is None or engine.next_due(run.s) != at(72 * H)
    assert not [e for e in run(Tick(), 200 * H) if isinstance(e, Notify)]


def test_an_alarm_resolved_with_its_registration_is_the_lead_part() -> None:
    from stilalarm.console.facts import AlarmReceived, Resolved
    from stilalarm.wire.messages import Registration

    run = Run()
    alarm = AlarmReceived(
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
    reg = Registration(aggression_types=(AggressionType.VERBAAL,), severity=Severity.AGRESSIE)
    resolved = Resolved(at=at(60), incident_id="inc-20261125-1", person_id="chris", registration=reg)
    run.s = rebuild(SITE, [alarm, resolved])
    eff = run(file(person="ilse", incident_id="inc-20261125-1", place_kind=None), 100)
    assert reply(eff).ok
    case_ = run.s.registrations["reg-1"]
    assert (case_.place_kind, case_.team_id, case_.lead_by, case_.complete) == (
        "balie",
        "onthaal",
        "chris",
        True,
    )
    assert [e.notice.text_key for e in eff if isinstance(e, Notify)] == ["registration_done"]
    second = reply(run(file(person="hanne", reg="reg-2", incident_id="inc-20261125-1", place_kind=None), 101))
    assert second.text_key == "reply_registration_incident_taken"


def test_wire_limits_refuse_oversized_text_and_a_missing_place() -> None:
    base = {
        "v": 1,
        "kind": "registration_file",
        "cmd_id": str(uuid.uuid4()),
        "person_id": "hanne",
        "issued_at": "2026-11-25T09:00:00Z",
        "registration_id": "reg-1",
        "place_kind": "balie",
        "what_happened": "x" * 4001,
        "aggression_types": ["verbaal"],
    }
    import json

    with pytest.raises(ContractError):
        parse_person_command(json.dumps(base))
    with pytest.raises(ContractError):
        parse_person_command(json.dumps({**base, "what_happened": "ok ok", "place_kind": None}))
    with pytest.raises(ContractError):
        parse_person_command(json.dumps({**base, "what_happened": "ok ok", "aggression_types": []}))
    ok = parse_person_command(json.dumps({**base, "what_happened": "ok ok"}))
    assert isinstance(ok, RegistrationFileCmd)
    assert parse_person_command(encode(ok)) == ok


def test_preventie_gets_the_record_attached_to_the_e_mail() -> None:
    import json

    from stilalarm.console.delivery.mail import build_message
    from stilalarm.console.delivery.render import render

    run = Run()
    run(file(stalking=True, how_are_you="Het gaat."), 10)
    eff = run(complete(police_called=True, pv_number="PV 1", sanctions=("waarschuwing",)), 20)
    (done,) = [e.notice for e in eff if isinstance(e, Notify)]
    rec = json.loads(done.detail["record"])
    assert (rec["person_id"], rec["filed_at"], rec["completed_by"], rec["completed_at"]) == (
        "hanne",
        at(10).isoformat(),
        "an",
        at(20).isoformat(),
    )
    assert rec["stalking"] is True and rec["pv_number"] == "PV 1" and rec["sanctions"] == ["waarschuwing"]
    n = render(SITE, done, "dirk", done.notification_ids[0], None)
    assert n.record == done.detail["record"] and "reg-1" in n.title
    dirk = SITE.person("dirk").model_copy(update={"email": "dirk@example.org"})
    msg = build_message(SITE, "stilalarm@example.org", n, dirk)
    (att,) = list(msg.iter_attachments())
    assert att.get_filename() == "melding-reg-1.json" and att.get_content_type() == "application/json"
    assert json.loads(att.get_content()) == rec


def test_an_alarm_resolve_completes_the_registration_filed_before_it() -> None:
    from stilalarm.console.facts import AlarmReceived
    from stilalarm.wire.messages import AckCmd, Registration, ResolveCmd

    run = Run()
    run.s = rebuild(
        SITE,
        [
            AlarmReceived(
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
        ],
    )
    assert reply(run(file(person="ilse", incident_id="inc-20261125-1", place_kind=None), 5)).ok
    assert not run.s.registrations["reg-1"].complete
    run(
        PersonCmdIn(
            AckCmd(cmd_id=uuid.uuid4(), person_id="chris", issued_at=T0, incident_id="inc-20261125-1")
        ),
        6,
    )
    reg = Registration(aggression_types=(AggressionType.VERBAAL,), severity=Severity.AGRESSIE)
    resolve = ResolveCmd(
        cmd_id=uuid.uuid4(), person_id="chris", issued_at=T0, incident_id="inc-20261125-1", registration=reg
    )
    eff = run(PersonCmdIn(resolve), 7)
    assert run.s.registrations["reg-1"].lead_by == "chris"
    (done,) = [e.notice for e in eff if isinstance(e, Notify) and e.notice.text_key == "registration_done"]
    assert done.person_ids == ("dirk",) and '"severity": "agressie"' in done.detail["record"]


def test_the_alarms_history_says_who_filed_the_report_but_not_what() -> None:
    from stilalarm.console.facts import AlarmReceived
    from stilalarm.console.timeline import Timelines

    alarm = AlarmReceived(
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
    run = Run()
    run.s = rebuild(SITE, [alarm])
    run(file(person="ilse", incident_id="inc-20261125-1", place_kind=None), 5)
    tl = Timelines(SITE)
    for f in [alarm, *run.facts()]:
        tl.add(f)  # type: ignore[arg-type]
    line = tl.timeline("inc-20261125-1", 1)
    assert line is not None
    (entry,) = [e for e in line.entries if e.kind == "registration"]
    assert entry.text == "Melding agressie ingediend door Ilse Jacobs" and entry.person_id == "ilse"
    assert all("schold" not in e.text for e in line.entries)


# -- the victim's part of a panic-page alarm (the press says who it was) -----------------------
PANIC = "inc-20261125-7"


def _panic_alarm(unit: str = "gsm-hanne", room: str = "huisbezoek", team: str = "sociale-dienst") -> object:
    from stilalarm.console.facts import AlarmReceived

    return AlarmReceived(
        at=at(0),
        incident_id=PANIC,
        unit_id=unit,
        button_id="toets" if unit.startswith("telefoon") else SITE.unit(unit).buttons[0].id,
        room_id=room,
        team_id=team,
        event_id=uuid.uuid4(),
        pressed_at=at(0),
        sent_at=at(0),
    )


def victim_notes(eff: list[Effect]) -> list[Notification]:
    """The victim's reminders among the effects (the alarm's after-care reminders go to the lead)."""
    return [
        e.notice for e in eff if isinstance(e, Notify) and e.notice.text_key == "registration_remind_victim"
    ]


def _ack_and_resolve(run: Run, lead: str, t: float, *, false_alarm: bool = False) -> list[Effect]:
    from stilalarm.wire.messages import AckCmd, Registration, ResolveCmd

    run(PersonCmdIn(AckCmd(cmd_id=uuid.uuid4(), person_id=lead, issued_at=T0, incident_id=PANIC)), t)
    if false_alarm:
        reg = Registration(false_alarm=True)
    else:
        reg = Registration(aggression_types=(AggressionType.VERBAAL,), severity=Severity.AGRESSIE)
    cmd = ResolveCmd(cmd_id=uuid.uuid4(), person_id=lead, issued_at=T0, incident_id=PANIC, registration=reg)
    return run(PersonCmdIn(cmd), t + 1)


def test_a_panic_page_alarm_resolved_without_the_victims_part_reminds_its_person() -> None:
    from stilalarm.console.regfacts import RegistrationOwed

    run = Run()
    run.s = rebuild(SITE, [_panic_alarm()])  # type: ignore[list-item]
    _ack_and_resolve(run, "an", 60)
    (owed,) = [f for f in run.facts() if isinstance(f, RegistrationOwed)]
    assert (owed.person_id, owed.incident_id, owed.team_id, owed.at) == (
        "hanne",
        PANIC,
        "sociale-dienst",
        at(61),
    )
    assert engine.next_due(run.s) == at(61 + 24 * H)
    assert not victim_notes(run(Tick(), 61 + 24 * H - 1))
    (n,) = victim_notes(run(Tick(), 61 + 24 * H))
    assert n.person_ids == ("hanne",) and n.text_key == "registration_remind_victim"
    assert (n.detail["incident"], n.detail["step"], n.incident_id) == (PANIC, "1", None)
    from stilalarm.console.texts import notice_text
    from stilalarm.inventory.kinds import Language

    title, body = notice_text(SITE, n.text_key, dict(n.detail), Language.NL) or ("", "")
    assert PANIC in title and f"register file --incident {PANIC}" in body
    assert engine.next_due(run.s) == at(61 + 72 * H)
    again = rebuild(SITE, [_panic_alarm(), *run.facts()])  # type: ignore[list-item]
    assert again.owed == run.s.owed
    # she files it after the alarm left the engine's memory (a day after its resolve): accepted, no
    # more reminders; with the resolve as the lead's part it is complete at once, Preventie told
    assert PANIC not in run.s.incidents
    eff = run(file(person="hanne", incident_id=PANIC, place_kind=None), 30 * H)
    assert reply(eff).ok and run.s.owed == {}
    case_ = run.s.registrations["reg-1"]
    assert (case_.complete, case_.lead_by, case_.lead_at, case_.place_kind, case_.team_id) == (
        True,
        "an",
        at(61),
        "huisbezoek",
        "sociale-dienst",
    )
    (done,) = [e.notice for e in eff if isinstance(e, Notify)]
    assert done.text_key == "registration_done" and '"severity": "agressie"' in done.detail["record"]
    again = rebuild(SITE, [_panic_alarm(), *run.facts()])  # type: ignore[list-item]
    assert again.registrations == run.s.registrations and again.owed == {}
    assert not victim_notes(run(Tick(), 200 * H))


def test_missed_victim_reminders_come_as_one_and_stop_after_the_last() -> None:
    run = Run()
    run.s = rebuild(SITE, [_panic_alarm()])  # type: ignore[list-item]
    _ack_and_resolve(run, "an", 0)
    (n,) = victim_notes(run(Tick(), 100 * H))  # the console was down
    assert n.detail["step"] == "2" and n.person_ids == ("hanne",)
    (last,) = victim_notes(run(Tick(), 170 * H))
    assert last.detail["step"] == "3" and run.s.owed == {}
    assert not victim_notes(run(Tick(), 400 * H))


@pytest.mark.parametrize(
    ("unit", "room", "team", "lead", "false_alarm"),
    [
        ("balie-1", "balie-1", "onthaal", "chris", False),  # a desk button: nobody identified
        ("telefoon-balie-1", "balie-1", "onthaal", "chris", False),  # a desk phone: nobody either
        ("gsm-hanne", "huisbezoek", "sociale-dienst", "an", True),  # a false alarm: nothing to file
    ],
)
def test_desk_buttons_desk_phones_and_false_alarms_remind_no_victim(
    unit: str, room: str, team: str, lead: str, false_alarm: bool
) -> None:
    run = Run()
    run.s = rebuild(SITE, [_panic_alarm(unit, room, team)])  # type: ignore[list-item]
    _ack_and_resolve(run, lead, 0, false_alarm=false_alarm)
    assert run.s.owed == {}
    assert not victim_notes(run(Tick(), 200 * H))


def test_only_the_panic_pages_person_files_the_victims_part_of_its_alarm() -> None:
    """The attack: a colleague files the victim's part of Hanne's panic-page alarm (and would then
    read the lead's part of it as its 'victim'): refused with a reason, nothing changes."""
    run = Run()
    run.s = rebuild(SITE, [_panic_alarm()])  # type: ignore[list-item]
    _ack_and_resolve(run, "an", 0)
    before = (run.s.registrations, run.s.owed)
    eff = run(file(person="ilse", incident_id=PANIC, place_kind=None), 10)
    r = reply(eff)
    assert (r.ok, r.code, r.text_key, r.values) == (
        False,
        "not_authorised",
        "reply_registration_not_victim",
        {"incident": PANIC},
    )
    assert [type(e.fact) for e in eff if isinstance(e, Record)] == [CommandRejected]
    assert (run.s.registrations, run.s.owed) == before
    later = run(
        file(person="ilse", reg="reg-2", incident_id=PANIC, place_kind=None), 30 * H
    )  # gone from memory
    assert reply(later).text_key == "reply_registration_not_victim"
    assert (run.s.registrations, run.s.owed) == before
    assert reply(run(file(person="hanne", incident_id=PANIC, place_kind=None), 30 * H + 1)).ok


def test_the_panic_pages_person_reads_the_record_once_filed() -> None:
    from stilalarm.console.reporting.access import may_read, visible
    from stilalarm.console.reporting.fold import build

    run = Run()
    alarm = _panic_alarm()
    run.s = rebuild(SITE, [alarm])  # type: ignore[list-item]
    _ack_and_resolve(run, "an", 0)
    facts = [alarm, *run.facts()]
    (rec,) = [r for r in build(SITE, facts).incidents if r.incident_id == PANIC]  # type: ignore[arg-type]
    assert not may_read(SITE, "hanne", rec)  # not hers to read before she files
    run(file(person="hanne", incident_id=PANIC, place_kind=None), 10)
    facts = [alarm, *run.facts()]
    (rec,) = [r for r in build(SITE, facts).incidents if r.incident_id == PANIC]  # type: ignore[arg-type]
    assert rec.report is not None and rec.report.victim == "hanne" and rec.report.completed_by == "an"
    assert may_read(SITE, "hanne", rec) and not may_read(SITE, "ilse", rec)
    assert visible(SITE, "hanne", [rec], mine=True) == [rec]
