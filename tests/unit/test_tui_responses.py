"""The console's response keys ('Kan niet komen' n, 'Ter plaatse' d) and the 'niemand bereikbaar'
badge, without a broker: the Textual app fed states directly, and its pure view model."""

from __future__ import annotations

import asyncio

from textual.widgets import DataTable

from stilalarm.console.tui.app import ConsoleApp
from stilalarm.console.tui.bus import Got
from stilalarm.console.tui.model.alarms import Selection, build_alarms
from stilalarm.console.tui.model.context import Ctx
from stilalarm.console.tui.model.received import Received
from stilalarm.console.tui.model.responses import decline_target, on_site_target
from stilalarm.console.tui.texts import NL
from stilalarm.console.tui.widgets import Notice
from stilalarm.inventory import Site
from tests.unit.test_tui_app import NOW, online, state


def _view(site: Site, me: str, *states: object) -> object:
    rec = Received()
    for st in states:
        rec = rec.with_incident(st)  # type: ignore[arg-type]
    return build_alarms(rec, Ctx(site, me, NL), NOW, Selection())


def test_decline_targets_only_an_open_alarm_routed_to_me(site: Site) -> None:
    view = _view(site, "bart", state("i-1"))
    d = decline_target(view, NL)  # type: ignore[arg-type]
    assert d.incident_id == "i-1" and "Kan niet komen" in d.message
    view = _view(site, "chris", state("i-1"))  # not notified
    assert decline_target(view, NL).incident_id is None  # type: ignore[arg-type]
    acked = state("i-1", status="acknowledged", acknowledged_by="bart", acknowledged_at=NOW)
    assert decline_target(_view(site, "bart", acked), NL).incident_id is None  # type: ignore[arg-type]
    # two open alarms: pick first, never a guess
    two = _view(site, "bart", state("i-1"), state("i-2", unit_id="balie-1", room_id="balie-1"))
    assert decline_target(two, NL).incident_id is None  # type: ignore[arg-type]


def test_on_site_targets_the_alarm_i_acknowledged(site: Site) -> None:
    acked = state("i-1", status="acknowledged", acknowledged_by="bart", acknowledged_at=NOW)
    assert on_site_target(_view(site, "bart", acked), NL, "bart").incident_id == "i-1"  # type: ignore[arg-type]
    assert on_site_target(_view(site, "an", acked), NL, "an").incident_id is None  # type: ignore[arg-type]
    there = state("i-1", status="acknowledged", acknowledged_by="bart", acknowledged_at=NOW, on_site_at=NOW)
    assert on_site_target(_view(site, "bart", there), NL, "bart").incident_id is None  # type: ignore[arg-type]
    assert on_site_target(_view(site, "bart", state("i-1")), NL, "bart").incident_id is None  # type: ignore[arg-type]


def test_rows_carry_nobody_reachable_on_site_and_declined(site: Site) -> None:
    view = _view(site, "an", state("i-1", nobody_reachable=True, declined=("bart",), notified=("bart", "an")))
    row = view.rows[0]  # type: ignore[attr-defined]
    assert row.nobody_reachable and row.declined_short and not row.on_site


def test_keys_n_and_d_send_and_the_table_shows_the_badge(site: Site) -> None:
    async def go() -> None:
        app = ConsoleApp(site, "bart", None, clock=lambda: NOW)
        async with app.run_test(size=(100, 30)) as pilot:
            online(app)
            app.apply(Got(state("i-1", nobody_reachable=True)))
            await pilot.pause()
            table = app.query_one("#alarm-table", DataTable)
            cells = " ".join(str(c) for c in table.get_row_at(0))
            assert "NIEMAND BEREIKBAAR" in cells
            await pilot.press("n")
            assert "‘Kan niet komen’ verzonden" in app.query_one(Notice).plain
            await pilot.press("d")  # not acknowledged by me: nothing to mark
            assert "Kies eerst het alarm waarvoor jij ‘Ik kom’ bevestigde" in app.query_one(Notice).plain
            app.apply(
                Got(
                    state(
                        "i-1", version=2, status="acknowledged", acknowledged_by="bart", acknowledged_at=NOW
                    )
                )
            )
            await pilot.pause()
            await pilot.press("d")
            assert "‘Ter plaatse’ verzonden" in app.query_one(Notice).plain
            app.apply(
                Got(
                    state(
                        "i-1",
                        version=3,
                        status="acknowledged",
                        acknowledged_by="bart",
                        acknowledged_at=NOW,
                        on_site_at=NOW,
                    )
                )
            )
            await pilot.pause()
            cells = " ".join(str(c) for c in table.get_row_at(0))
            assert "ter plaatse" in cells and "NIEMAND BEREIKBAAR" not in cells
            # the footer lists both keys
            shown = {b.binding.description for b in app.active_bindings.values() if b.binding.show}
            assert {"Kan niet komen", "Ter plaatse"} <= {str(d) for d in shown}

    asyncio.run(go())
