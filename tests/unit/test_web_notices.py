"""What a lead reads for a desk phone's alarm and for a panic-page alarm (pure: engine + render)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from stilalarm.console.core import engine
from stilalarm.console.core.effects import Effect, Notify
from stilalarm.console.core.engine import EngineState, Tick, UnitEventIn
from stilalarm.console.delivery.render import render
from stilalarm.console.tui.model.alarms import _detail
from stilalarm.console.tui.model.context import Ctx
from stilalarm.console.tui.texts import NL
from stilalarm.devkit.webrun import WEB_SITE
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import EventKind, UnitEvent

SITE = parse_site(WEB_SITE)
T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def _press(unit: str, detail: str = "") -> UnitEventIn:
    return UnitEventIn(
        UnitEvent(
            event_id=uuid.uuid4(),
            unit_id=unit,
            kind=EventKind.ALARM,
            button_id="toets",
            seq=1,
            boot_id=uuid.uuid4(),
            occurred_at=T0,
            sent_at=T0,
            detail=detail,
        )
    )


def _bodies(s: EngineState, effects: list[Effect], lang_of: str) -> list[str]:
    inc = next(iter(s.incidents.values()))
    out = []
    for e in effects:
        if isinstance(e, Notify) and lang_of in e.notice.person_ids:
            out.append(render(SITE, e.notice, lang_of, uuid.uuid4(), inc).body)
    return out


def test_a_desk_phone_alarm_says_it_came_from_the_phone() -> None:
    s, eff = engine.step(EngineState.initial(SITE), _press("telefoon-balie-1"), T0)
    (body,) = _bodies(s, eff, "chris")
    assert body.startswith("Agressie-alarm in Balie 1") and "Via de alarmtoets van de bureautelefoon." in body


def test_a_panic_page_alarm_names_its_holder_and_place_to_those_paged_only() -> None:
    place = "Kerkstraat 1, Zolder; GPS 51.03000,5.28000 ±12 m"
    s, eff = engine.step(EngineState.initial(SITE), _press("gsm-an", place), T0)
    (body,) = _bodies(s, eff, "an")  # team sociale-dienst: An is its lead
    assert "Paniekknop op de gsm van An Peeters." in body and f"Locatie: {place}." in body
    inc = next(iter(s.incidents.values()))
    assert place not in inc.to_wire().model_dump_json()  # the retained state everybody reads
    # escalation to the deputy carries the place too; a later press with a new position updates it
    s, eff = engine.step(s, _press("gsm-an", "Markt 2"), T0 + timedelta(seconds=0.5))
    s, eff = engine.step(s, Tick(), T0 + timedelta(seconds=1))
    (deputy,) = _bodies(s, eff, "dirk")
    assert "Locatie: Markt 2." in deputy


def test_a_desk_units_detail_is_never_a_place() -> None:
    s, eff = engine.step(EngineState.initial(SITE), _press("telefoon-balie-1", "x"), T0)
    assert "Locatie" not in _bodies(s, eff, "chris")[0]


def test_the_console_marks_phone_and_panic_page_alarms() -> None:
    ctx = Ctx(site=SITE, me="an", texts=NL)
    assert _detail(ctx, "telefoon-balie-1", "balie-1").endswith("via bureautelefoon")
    assert _detail(ctx, "gsm-an", "huisbezoek").endswith("paniekknop gsm")
    assert "via" not in _detail(ctx, "balie-1", "balie-1")
