"""A building's link dies (issue 18, docs/HA.md Buildings), with real processes: a mosquitto, the
console service (`alarm-console serve`) and `alarm-sim`, on FAST_SITE with an annex holding two Pi
units (the interview room's desk unit and the lead's pager).

Both annex units die without last words (`kill`: socket closed, the broker publishes their wills):
facilities get ONE notice "gebouw Bijgebouw onbereikbaar" and no unit-offline notice for them, the
lead of the interview room is told it is unprotected. When one of them connects again (a new
`alarm-sim` for it), facilities get one "bereikbaar" notice. Timeouts are for liveness only.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stilalarm.console.config import SupervisionPolicy
from stilalarm.devkit.localsystem import LocalSystem
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import Notification, parse
from tests.harness import wait_until
from tests.unit.test_supervision_buildings import ANNEX, with_buildings

TEXT = with_buildings()
SITE = parse_site(TEXT)
UNITS = [u.id for u in SITE.units]
FACILITIES = ("fien", "gert")
HOLD_S = SupervisionPolicy().building_hold_s


@pytest.fixture
def system(tmp_path: Path) -> Iterator[LocalSystem]:
    site_file = tmp_path / "site.toml"
    site_file.write_text(TEXT)
    s = LocalSystem(SITE, site_file, tmp_path / "sys")
    try:  # everything started is stopped (every alarm-sim too), however far the start got
        s.start_all()
        wait_until(lambda: s.units_online(UNITS), 20, "every unit online at the console")
        yield s
    finally:
        s.stop()


def notices_since(s: LocalSystem, start: int) -> list[Notification]:
    return [
        parse(Notification, payload)
        for _m, topic, payload, _r in list(s.observed.items)[start:]
        if topic.endswith("/notify") and "/person/" in topic
    ]


def to_facilities(s: LocalSystem, start: int) -> list[Notification]:
    return [n for n in notices_since(s, start) if n.person_id in FACILITIES]


def test_a_dead_building_link_is_one_notice_for_facilities(system: LocalSystem, tmp_path: Path) -> None:
    s, sim = system, system.sim
    assert sim is not None
    start = len(s.observed.items)
    for uid in ANNEX:
        sim.send(f"kill {uid}")
        sim.wait(lambda e, u=uid: e.get("unit") == u and e.get("event") == "killed", 10, f"{uid} killed")  # type: ignore[misc]
    wait_until(
        lambda: (
            {n.person_id for n in to_facilities(s, start) if "Bijgebouw" in n.body or "Annex" in n.body}
            == set(FACILITIES)
        ),
        30,
        "the building notice to facilities",
    )
    # past the hold: no unit notice was waiting any more (they were folded into the building's)
    told = time.monotonic()
    wait_until(lambda: time.monotonic() - told > HOLD_S + 3, HOLD_S + 10, "the hold to pass")
    titles = {(n.person_id, n.title) for n in to_facilities(s, start)}
    assert titles == {
        ("gert", "STORING gebouw Bijgebouw onbereikbaar"),
        ("fien", "FAULT building Annex unreachable"),
    }
    gert = next(n for n in to_facilities(s, start) if n.person_id == "gert")
    assert "alle 2 toestellen" in gert.body and gert.unit_id is None
    unprotected = [n for n in notices_since(s, start) if n.person_id == "an" and n.room_id == "spreekkamer-1"]
    assert unprotected, "the lead of the interview room is told it is unprotected"

    # the pager connects again (a new alarm-sim for it): the building is reachable, told once
    back = len(s.observed.items)
    again = s.start_sim(units="pager-an", extra=["--state-dir", str(tmp_path / "sim-again")])
    again.wait(lambda e: e.get("event") == "ready", 30, "the pager connected again")
    wait_until(lambda: len(to_facilities(s, back)) >= 2, 30, "the reachable notice to facilities")
    assert {(n.person_id, n.title) for n in to_facilities(s, back)} == {
        ("gert", "Hersteld: gebouw Bijgebouw bereikbaar"),
        ("fien", "Recovered: building Annex reachable"),
    }
