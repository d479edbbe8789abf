"""A building's link supervised as one (docs/HA.md, Buildings): pure, time injected, no sleeps."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from stilalarm.console.config import SupervisionPolicy
from stilalarm.console.core import supervision, world
from stilalarm.console.core.effects import Notify, Record
from stilalarm.console.core.supervision import HeartbeatIn, StatusIn, SupTick, UnitsState
from stilalarm.console.facts import (
    BuildingReachable,
    BuildingUnreachable,
    Notified,
    UnitOffline,
    fact_json,
    parse_fact,
)
from stilalarm.console.retention import plan
from stilalarm.console.texts import notice_text
from stilalarm.devkit.servicerun import FAST_SITE
from stilalarm.inventory.kinds import Language
from stilalarm.inventory.load import InventoryError, parse_site
from stilalarm.inventory.policies import RetentionPolicy
from stilalarm.wire.messages import Heartbeat, LinkState, UnitStatus

BUILDINGS = """
[[buildings]]
id = "bijgebouw"
name = "Bijgebouw"
name_en = "Annex"
"""


def with_buildings(text: str = FAST_SITE) -> str:
    """FAST_SITE with an annex holding spreekkamer-1 and the lead's bureau (two Pis: a desk, a pager)."""
    text = text.replace('floor = "1e verdieping"\n', 'floor = "1e verdieping"\nbuilding = "bijgebouw"\n')
    text = text.replace(
        'team = "sociale-dienst"\n\n[[units]]', 'team = "sociale-dienst"\nbuilding = "bijgebouw"\n\n[[units]]'
    )
    return text.replace("[[teams]]", BUILDINGS + "\n[[teams]]", 1)


SITE = parse_site(with_buildings())
ANNEX = ("spreekkamer-1", "pager-an")
MAIN = ("balie-1", "wachtzaal")
FACILITIES = ("fien", "gert")
T0 = datetime(2026, 11, 28, 9, 0, 0, tzinfo=UTC)
WINDOW = 60.0


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


class Run:
    """Steps supervision; every unit beats each second unless it is in `silent`."""

    def __init__(self) -> None:
        self.policy = SupervisionPolicy(flap_window_s=WINDOW)
        self.s = UnitsState.initial(SITE, T0, self.policy)
        self.log: list[object] = []
        self.boots = {u.id: uuid.uuid4() for u in SITE.units}
        self.silent: set[str] = set()
        self.t = 0.0

    def step(self, inp: supervision.SupInput, t: float) -> list[object]:
        self.s, eff = supervision.step(self.s, inp, at(t))
        self.log += eff
        return list(eff)

    def run_to(self, t: float) -> list[object]:
        """Beat and tick every second up to `t`; the effects of that time."""
        out: list[object] = []
        while self.t < t:
            self.t += 1
            for uid, boot in self.boots.items():
                if uid not in self.silent:
                    out += self.step(HeartbeatIn(_beat(uid, boot, at(self.t))), self.t)
            out += self.step(SupTick(), self.t)
        return out

    def facts(self) -> list[object]:
        return [e.fact for e in self.log if isinstance(e, Record)]


def _beat(uid: str, boot: uuid.UUID, sent: datetime) -> Heartbeat:
    return Heartbeat(
        unit_id=uid,
        boot_id=boot,
        seq=1,
        sent_at=sent,
        interval_s=1.0,
        uptime_s=1,
        outbox_depth=0,
        firmware_version="1.0",
        test_mode=False,
    )


def facility_notices(effects: list[object]) -> list[tuple[str, str | None]]:
    return [
        (e.notice.text_key, e.notice.unit_id)
        for e in effects
        if isinstance(e, Notify) and e.notice.person_ids == FACILITIES
    ]


def started() -> Run:
    r = Run()
    r.run_to(5)
    assert all(r.s.units[u].online for u in (*ANNEX, *MAIN))
    return r


# --------------------------------------------------------------------------- inventory


def test_buildings_are_optional_and_a_site_without_them_supervises_no_building() -> None:
    plain = parse_site(FAST_SITE)
    assert plain.buildings == () and plain.index.pis_in_building == {}
    assert UnitsState.initial(plain, T0).buildings == {}
    assert SITE.index.pis_in_building == {"bijgebouw": ANNEX}
    assert SITE.building_of("spreekkamer-1") == "bijgebouw" and SITE.building_of("balie-1") is None


def test_a_room_naming_an_unknown_building_says_what_to_do() -> None:
    bad = with_buildings().replace('building = "bijgebouw"\n', 'building = "annex"\n', 1)
    with pytest.raises(InventoryError) as e:
        parse_site(bad)
    assert "unknown building 'annex'" in str(e.value) and "[[buildings]]" in str(e.value)
    twice = with_buildings().replace(BUILDINGS, BUILDINGS + BUILDINGS)
    with pytest.raises(InventoryError, match="duplicate building id 'bijgebouw'"):
        parse_site(twice)


def test_every_building_field_has_a_description() -> None:
    from stilalarm.inventory.places import Building, Room

    assert all(f.description for f in Building.model_fields.values())
    assert Room.model_fields["building"].description


# --------------------------------------------------------------------------- supervision


def test_a_cut_link_is_one_building_notice_for_facilities_and_rooms_stay_told_to_leads() -> None:
    r = started()
    r.silent = set(ANNEX)
    eff = r.run_to(30)
    # the units went offline (facts per unit), facilities got one notice: the building's
    offline = [f.unit_id for f in r.facts() if isinstance(f, UnitOffline)]
    assert sorted(offline) == sorted(ANNEX)
    assert facility_notices(eff) == [("building_unreachable", None)]
    (fact,) = [f for f in r.facts() if isinstance(f, BuildingUnreachable)]
    assert fact.unit_ids == ANNEX and fact.since == at(8)  # the last beat at 5 s, three intervals
    notice = next(
        e.notice for e in eff if isinstance(e, Notify) and e.notice.text_key == "building_unreachable"
    )
    assert notice.detail == {"building": "bijgebouw", "units": "2", "since": at(8).isoformat()}
    # the lead of the interview room is told it is unprotected, as without buildings
    leads = [e.notice for e in eff if isinstance(e, Notify) and e.notice.text_key == "unprotected"]
    assert [(n.person_ids, n.detail["room"]) for n in leads] == [(("an",), "spreekkamer-1")]
    assert r.s.buildings["bijgebouw"].unreachable


def test_units_that_go_one_by_one_within_the_hold_are_still_one_notice() -> None:
    r = started()
    r.silent = {"spreekkamer-1"}
    r.run_to(12)  # spreekkamer-1 offline at 8; its notice waits (hold: 20 s)
    assert facility_notices(r.log) == []
    r.step(StatusIn(_status("pager-an", LinkState.OFFLINE, r.boots["pager-an"])), 12.5)  # its will
    r.silent.add("pager-an")
    eff = r.run_to(60)
    assert facility_notices(r.log) == [("building_unreachable", None)]
    assert facility_notices(eff) == []


def test_the_link_back_is_one_reachable_notice_and_units_coming_back_are_not_told_one_by_one() -> None:
    r = started()
    r.silent = set(ANNEX)
    r.run_to(30)
    r.silent = {"pager-an"}
    eff = r.run_to(31)
    assert facility_notices(eff) == [("building_reachable", None)]
    (back,) = [f for f in r.facts() if isinstance(f, BuildingReachable)]
    assert back.unit_id == "spreekkamer-1" and back.since == at(8)
    r.silent = set()
    eff = r.run_to(200)  # past every window: the units are back, nothing more to say
    assert facility_notices(eff) == []
    assert not r.s.buildings["bijgebouw"].unreachable
    assert supervision.next_due(r.s) is not None and supervision.next_due(r.s) > at(200)


def test_a_unit_that_stays_offline_after_its_building_is_back_is_told_at_its_window_end() -> None:
    r = started()
    r.silent = set(ANNEX)
    r.run_to(30)  # unreachable at 8: windows until 68
    r.silent = {"pager-an"}
    r.run_to(67)
    assert facility_notices(r.log) == [("building_unreachable", None), ("building_reachable", None)]
    eff = r.run_to(69)
    assert facility_notices(eff) == [("offline_silent", "pager-an")]


def test_one_unit_dying_alone_is_told_after_the_hold() -> None:
    r = started()
    r.silent = {"spreekkamer-1"}
    r.run_to(27)  # offline at 8, held until 28
    assert facility_notices(r.log) == []
    eff = r.run_to(28)
    assert facility_notices(eff) == [("offline_silent", "spreekkamer-1")]
    n = next(e.notice for e in eff if isinstance(e, Notify))
    assert n.detail == {"last": at(5).isoformat()}
    assert facility_notices(r.run_to(40)) == []
    assert not r.s.buildings["bijgebouw"].unreachable


def test_a_unit_back_within_the_hold_is_told_then_as_a_flap() -> None:
    r = started()
    r.silent = {"spreekkamer-1"}
    r.run_to(10)
    r.silent = set()
    eff = r.run_to(11)
    assert facility_notices(eff) == [("offline_silent", "spreekkamer-1")]  # the gap, told now
    assert facility_notices(r.run_to(200)) == [("flapping", "spreekkamer-1")]  # "1 change, now online"


def test_units_outside_buildings_are_told_at_once_as_before() -> None:
    r = started()
    r.silent = {"balie-1"}
    eff = r.run_to(8)
    assert facility_notices(eff) == [("offline_silent", "balie-1")]


def test_a_building_of_one_pi_is_supervised_unit_by_unit() -> None:
    text = with_buildings().replace(
        'team = "sociale-dienst"\nbuilding = "bijgebouw"\n\n[[units]]', 'team = "sociale-dienst"\n\n[[units]]'
    )
    site = parse_site(text)
    assert site.index.pis_in_building == {"bijgebouw": ("spreekkamer-1",)}
    assert UnitsState.initial(site, T0).buildings == {}


def test_rebuild_in_the_middle_of_a_hold_keeps_the_waiting_notice() -> None:
    r = started()
    r.silent = {"spreekkamer-1"}
    r.run_to(12)  # held until 28
    rebuilt = supervision.rebuild(SITE, r.facts(), at(12), r.policy)  # type: ignore[arg-type]
    assert rebuilt.comparable() == r.s.comparable()
    assert rebuilt.units["spreekkamer-1"].held_until == at(28)
    r.s = rebuilt  # a restart at 12 s: the others beat on
    assert facility_notices(r.run_to(27)) == []
    assert facility_notices(r.run_to(28)) == [("offline_silent", "spreekkamer-1")]


def test_rebuild_after_an_outage_equals_the_live_state_and_world_folds_building_facts() -> None:
    r = started()
    r.silent = set(ANNEX)
    r.run_to(30)
    r.silent = {"pager-an"}
    r.run_to(40)
    facts = r.facts()
    rebuilt = supervision.rebuild(SITE, facts, T0, r.policy)  # type: ignore[arg-type]
    assert rebuilt.comparable() == r.s.comparable()
    w = world.rebuild(SITE, facts, T0, supervision_policy=r.policy)  # type: ignore[arg-type]
    assert w.units.comparable() == r.s.comparable()
    for f in facts:  # every fact survives the log's JSON
        assert parse_fact(fact_json(f)) == f  # type: ignore[arg-type]


def test_retention_keeps_each_buildings_newest_fact() -> None:
    r = started()
    r.silent = set(ANNEX)
    r.run_to(30)
    r.silent = set()
    r.run_to(40)
    log = list(enumerate(r.facts()))  # type: ignore[arg-type]
    p = plan(log, RetentionPolicy(supervision_days=7), at(0) + timedelta(days=30))  # type: ignore[arg-type]
    kinds = {f.kind for seq, f in log if seq in p.seqs}  # type: ignore[attr-defined]
    assert "building_unreachable" in kinds
    kept = [
        f for seq, f in log if seq not in p.seqs and isinstance(f, BuildingUnreachable | BuildingReachable)
    ]
    assert [f.kind for f in kept] == ["building_reachable"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("lang", "title", "body"),
    [
        (
            Language.NL,
            "STORING gebouw Bijgebouw onbereikbaar",
            "alle 2 toestellen zijn offline sinds 10:00:08",
        ),
        (Language.EN, "FAULT building Annex unreachable", "all 2 units have been offline since 10:00:08"),
        (Language.FR, "STORING gebouw Bijgebouw onbereikbaar", "sinds 10:00:08"),  # skeleton: Dutch
    ],
)
def test_the_building_notice_names_the_building_the_units_and_since_when(
    lang: Language, title: str, body: str
) -> None:
    detail = {"building": "bijgebouw", "units": "2", "since": at(8).isoformat()}
    text = notice_text(SITE, "building_unreachable", detail, lang)
    assert text is not None and text[0] == title and body in text[1]
    back = notice_text(SITE, "building_reachable", detail, lang)
    assert back is not None and "10:00:08" in back[1]


def _status(uid: str, state: LinkState, boot: uuid.UUID) -> UnitStatus:
    return UnitStatus(unit_id=uid, state=state, boot_id=boot, reason="lost")  # type: ignore[arg-type]


def test_notified_facts_of_buildings_carry_no_unit() -> None:
    r = started()
    r.silent = set(ANNEX)
    r.run_to(30)
    told = [f for f in r.facts() if isinstance(f, Notified) and f.text_key.startswith("building_")]
    assert [(f.unit_id, f.incident_id) for f in told] == [(None, None)]
