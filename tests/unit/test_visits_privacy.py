"""Home visits around the engine (pure): who sees the client's name and the address (notices, TUI,
retained state), the registration export (address only when escalated), the purge of a closed visit's
details, office hours and the visit settings in the inventory, `alarm-console visit --until`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from stilalarm.console.cli.visit import planned_end
from stilalarm.console.core import engine
from stilalarm.console.core.effects import Effect, Notify, Record
from stilalarm.console.core.engine import EngineState, PersonCmdIn, Tick
from stilalarm.console.delivery.render import render
from stilalarm.console.delivery.texts import render as mail_render
from stilalarm.console.facts import Fact, Notified
from stilalarm.console.reporting import export
from stilalarm.console.reporting.fold import build
from stilalarm.console.retention import plan
from stilalarm.console.store import Batch, OutboxRow, Store
from stilalarm.console.tui.model.alarms import Selection, build_alarms, visit_target
from stilalarm.console.tui.model.context import Ctx
from stilalarm.console.tui.model.received import Received
from stilalarm.console.tui.texts import NL
from stilalarm.console.visitfacts import VisitDetails, VisitStarted
from stilalarm.devkit.webrun import VISIT_SITE
from stilalarm.inventory.load import InventoryError, parse_site
from stilalarm.inventory.visits import OfficeHours, evening, evening_reminder_at
from stilalarm.wire.messages import (
    Notification,
    VisitAnswerCmd,
    VisitEndCmd,
    VisitStartCmd,
    encode,
)
from stilalarm.wire.topics import Topics

SITE = parse_site(VISIT_SITE)
T0 = datetime(2026, 11, 25, 9, 0, 0, tzinfo=UTC)
ADDRESS = "Kerkstraat 12, 3550 Heusden-Zolder"
CLIENT = "Jan Klant"
TZ = ZoneInfo("Europe/Brussels")
T = Topics(SITE.site.id)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def cmd(kind: type, person: str, **kw: object) -> PersonCmdIn:
    return PersonCmdIn(kind(cmd_id=uuid.uuid4(), person_id=person, issued_at=T0, **kw))


class Run:
    def __init__(self) -> None:
        self.s = EngineState.initial(SITE)
        self.log: list[Effect] = []
        self.rendered: list[Notification] = []

    def __call__(self, inp: engine.Input, t: float) -> None:
        self.s, eff = engine.step(self.s, inp, at(t))
        self.log += eff
        for e in eff:  # what the service does after the step: render each notice per person
            if isinstance(e, Notify):
                n = e.notice
                inc = self.s.incidents.get(n.incident_id) if n.incident_id else None
                for pid, nid in zip(n.person_ids, n.notification_ids, strict=True):
                    self.rendered.append(render(SITE, n, pid, nid, inc))

    def facts(self) -> list[Fact]:
        return [e.fact for e in self.log if isinstance(e, Record)]


def escalated_visit() -> Run:
    r = Run()
    r(cmd(VisitStartCmd, "hanne", visit_id="v-1", client_name=CLIENT, address=ADDRESS,
          planned_end=at(60), colleague="ilse", mobile="0470 12 34 56"), 0)  # fmt: skip
    r(Tick(), 61.2)  # the colleague
    r(Tick(), 64.2)  # the lead
    r(Tick(), 67.2)  # everyone
    return r


def test_the_address_goes_only_to_those_the_escalation_reaches_and_never_into_the_log() -> None:
    r = escalated_visit()
    by_person = {n.person_id: n for n in r.rendered}
    assert set(by_person) == {"ilse", "an", "chris", "els", "dirk"}
    first = next(n for n in r.rendered if n.person_id == "ilse")
    assert first.title == "HUISBEZOEK TE LAAT — bel Hanne Wouters"
    assert first.call == "Bel Hanne Wouters op 0470 12 34 56" and first.address == ADDRESS
    assert f"bij {CLIENT}, {ADDRESS} moest om 10:01 gedaan zijn" in first.body
    assert first.level == 0  # every channel of the colleague (console, e-mail, chat)
    police = next(n for n in r.rendered if n.person_id == "els")
    assert police.call_101 and police.body.endswith(
        f"Verwittig de politie (101): vraag een plaatsbezoek op {ADDRESS}."
    )
    # only the visit_details fact holds them; every other fact and the retained state do not
    for f in r.facts():
        text = f.model_dump_json()
        if isinstance(f, VisitDetails):
            assert ADDRESS in text and CLIENT in text
        else:
            assert ADDRESS not in text and CLIENT not in text, f.kind
    wire = encode(r.s.incidents[first.incident_id or ""].to_wire()).decode()
    assert ADDRESS not in wire and CLIENT not in wire
    # closed: the closing notice names nobody's address, and the state forgets it
    r(cmd(VisitAnswerCmd, "ilse", visit_id="v-1", reached=True), 70)
    closing = r.rendered[-1]
    assert closing.title == "Huisbezoek afgesloten — Hanne Wouters" and ADDRESS not in closing.body
    assert closing.address is None and closing.call is None
    inc = r.s.incidents[first.incident_id or ""]
    assert inc.visit_private == ("", "", "") and r.s.visits["v-1"].address == ""


def test_the_mail_and_chat_text_of_a_visit_notice_is_the_consoles_with_whom_to_call_and_where() -> None:
    r = escalated_visit()
    n = next(x for x in r.rendered if x.person_id == "an")
    out = mail_render(SITE, n, SITE.person("an"))
    assert out.subject == "HUISBEZOEK: Hanne Wouters NIET BEREIKT — bel 101"
    assert "Bel Hanne Wouters op 0470 12 34 56" in out.short and f"Adres: {ADDRESS}" in out.body
    assert "Verwittig de politie (101)" in out.body and "Alarm in" not in out.body


def test_the_export_names_the_address_only_of_a_visit_that_escalated() -> None:
    r = escalated_visit()
    calm = Run()
    calm(cmd(VisitStartCmd, "hanne", visit_id="v-2", client_name=CLIENT, address="Dorpsstraat 1",
             planned_end=at(60), colleague="ilse", mobile="0470 12 34 56"), 0)  # fmt: skip
    calm(Tick(), 61.2)
    calm(cmd(VisitAnswerCmd, "ilse", visit_id="v-2", reached=True), 62)
    rows = export.rows(build(SITE, r.facts()).incidents + build(SITE, calm.facts()).incidents, TZ)
    escalated, closed_early = rows
    assert escalated["incident_kind"] == "overdue" and escalated["visit_address"] == ADDRESS
    assert (
        escalated["levels_reached"] == 3 and escalated["location"] == "huisbezoek" and escalated["unit"] == ""
    )
    assert closed_early["visit_address"] == "" and closed_early["false_alarm"] == "ja"
    assert CLIENT not in export.to_csv(build(SITE, r.facts()).incidents, TZ)


def test_purge_deletes_a_closed_visits_details_after_its_retention_and_never_an_open_ones() -> None:
    r = escalated_visit()
    r(cmd(VisitAnswerCmd, "an", visit_id="v-1", reached=True), 70)  # closed at T0 + 70 s
    r(cmd(VisitStartCmd, "hanne", visit_id="v-open", address="Molenstraat 3", planned_end=at(3600),
          colleague="ilse", mobile="0470 12 34 56"), 80)  # fmt: skip
    r(cmd(VisitStartCmd, "hanne", visit_id="v-calm", address="Dorpsstraat 1", planned_end=at(3600),
          colleague="ilse", mobile="0470 12 34 56"), 90)  # fmt: skip
    r(cmd(VisitEndCmd, "hanne", visit_id="v-calm"), 100)
    log = list(enumerate(r.facts()))
    assert plan(log, SITE.retention, at(100) + timedelta(days=29), SITE.visits).seqs == frozenset()
    p = plan(log, SITE.retention, at(100) + timedelta(days=31), SITE.visits)
    assert p.visits == ("v-1", "v-calm")
    gone = [f for seq, f in log if seq in p.seqs]
    assert sorted(f.kind for f in gone) == sorted(
        ["visit_started", "visit_details", "visit_started", "visit_details", "visit_ended"]
    )  # v-1's visit_ended stays with its incident; v-calm had none: its visit_ended goes too
    kept = [f for seq, f in log if seq not in p.seqs]
    assert any(isinstance(f, VisitStarted) and f.visit_id == "v-open" for f in kept)
    assert all(ADDRESS not in f.model_dump_json() for f in kept)
    notes = {str(n) for f in kept if isinstance(f, Notified) and f.incident_id for n in f.notification_ids}
    assert set(p.notifications) == notes  # the rendered notices of v-1's incident leave the outbox
    rebuilt = engine.rebuild(SITE, kept)  # the incident, its registration and the open visit remain
    assert len(rebuilt.incidents) == 1 and rebuilt.visits["v-open"].address == "Molenstraat 3"


def test_the_tui_shows_whom_to_call_only_to_someone_it_reached_and_answers_the_selected_visit() -> None:
    r = escalated_visit()
    inc = next(iter(r.s.incidents.values()))
    st = inc.to_wire()
    mine = next(n for n in r.rendered if n.person_id == "ilse")
    ctx_ilse, ctx_bart = Ctx(SITE, "ilse", NL), Ctx(SITE, "bart", NL)
    seen = Received().with_incident(st)
    view = build_alarms(seen.with_notification(mine), ctx_ilse, at(68), Selection())
    (row,) = view.rows
    assert row.location == "Huisbezoek Hanne Wouters — Sociale dienst" and row.visit_id == "v-1"
    assert row.detail == f"Bel Hanne Wouters op 0470 12 34 56 · {ADDRESS}"
    other = build_alarms(seen, ctx_bart, at(68), Selection())
    assert other.rows[0].detail == "niet afgemeld, gepland tot 10:01" and ADDRESS not in str(other)
    decision = visit_target(view, NL, reached=True)
    assert decision.visit_id == "v-1" and decision.message.startswith("'Bereikt, alles ok' verzonden voor #1")
    assert visit_target(view, NL, reached=False).visit_id == "v-1"


def test_office_hours_and_the_evening_rule() -> None:
    h = OfficeHours()
    wed = datetime(2026, 11, 25, 15, 59, tzinfo=UTC)  # 16:59 in Brussels
    assert not evening(h, TZ, wed) and evening(h, TZ, wed + timedelta(minutes=2))
    assert evening(h, TZ, datetime(2026, 11, 28, 10, 0, tzinfo=UTC))  # a Saturday
    assert evening(h, TZ, datetime(2026, 11, 25, 6, 30, tzinfo=UTC))  # 07:30, before opening
    assert evening_reminder_at(h, TZ, wed) == datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
    late = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
    assert evening_reminder_at(h, TZ, late) == late
    hours = 'office_hours = { start = "00:00", end = "24:00", weekdays = [1, 2, 3, 4, 5, 6, 7] }'
    for bad in ('end = "07:00"', "weekdays = [0]", "weekdays = [1, 1]"):
        text = VISIT_SITE.replace(hours, f"office_hours = {{ {bad} }}")
        with pytest.raises(InventoryError, match="office_hours"):
            parse_site(text)
    with pytest.raises(InventoryError, match="unknown team 'nope'"):
        parse_site(
            VISIT_SITE.replace(
                'team = "sociale-dienst"\n\n[[people]]\nid = "ilse"',
                'team = "nope"\n\n[[people]]\nid = "ilse"',
            )
        )
    with pytest.raises(InventoryError, match="grace_min"):
        parse_site(VISIT_SITE.replace("grace_min = 0.02", "grace_min = -1"))
    assert SITE.teams_of("hanne") == ("sociale-dienst",) and SITE.teams_of("bart") == ("onthaal",)


def test_visit_until_is_a_local_clock_time_today_or_an_iso_time_with_offset() -> None:
    now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    assert planned_end("16:30", TZ, now) == datetime(2026, 11, 25, 15, 30, tzinfo=UTC)
    assert planned_end("2026-11-25T16:30+01:00", TZ, now) == datetime(2026, 11, 25, 15, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="offset"):
        planned_end("2026-11-25T16:30", TZ, now)


def test_purge_in_the_store_leaves_no_trace_of_the_address_in_the_files(tmp_path: Path) -> None:
    r = escalated_visit()
    r(cmd(VisitAnswerCmd, "an", visit_id="v-1", reached=True), 70)
    facts = r.facts()
    outbox = [
        OutboxRow(n.notification_id, "mqtt", n.person_id, T.person_notify(n.person_id), encode(n), at(61))
        for n in r.rendered
    ]
    unrelated = Notification(
        notification_id=uuid.uuid4(), person_id="fien", reason="fault", title="t", body="b", at=at(1)
    )
    outbox.append(OutboxRow(unrelated.notification_id, "mqtt", "fien", "x", encode(unrelated), at(1)))
    db = tmp_path / "c.db"
    store = Store(db, init=True)
    store.commit(Batch(facts=list(facts), outbox=outbox), at(70))
    assert ADDRESS.encode() in b"".join(p.read_bytes() for p in tmp_path.iterdir())
    p = plan(store.numbered_facts(), SITE.retention, at(70) + timedelta(days=31), SITE.visits)
    rows = store.purge(p)
    assert rows["outbox"] == len(r.rendered)  # every rendered notice of the visit; the fault stays
    left = store.db.execute("SELECT notification_id FROM outbox").fetchall()
    assert [x[0] for x in left] == [str(unrelated.notification_id)]
    assert [f.kind for f in store.facts() if f.kind.startswith("visit_")] == ["visit_ended"]
    store.close()
    on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert ADDRESS.encode() not in on_disk and CLIENT.encode() not in on_disk
