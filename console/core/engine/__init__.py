"""The incident engine: a pure state machine `step(state, input, now) -> (state, effects)`.

No clock, no I/O, no randomness: time comes in as `now`, and everything the shell must do
comes out as effect data (`stilalarm.console.core.effects`: record a fact, publish, notify, reply).
The state is the fold of the recorded facts (`evolve`), so a restart rebuilds it from the
log (`rebuild`) and every open escalation resumes from its recorded times.

- `state`: incidents, test windows, after-care cases, `EngineState`.
- `fold`: `evolve` (one fact) and `rebuild` (a log).
- `step`: the inputs, `step` (the dispatcher), `next_due` and the timers.
- `alarms`: presses (real, test, pager), escalation levels and repeats.
- `commands`: acknowledge, resolve, presence, test windows, after-care.
- `visits`, `visitfold`: home visits (huisbezoek) and their overdue incidents (docs/VISITS.md).
"""

from stilalarm.console.core.engine.alarms import (
    TEST_REPEAT_GUARD,
    led_for,
    open_incident_of_unit,
    test_window_for,
)
from stilalarm.console.core.engine.fold import evolve, rebuild
from stilalarm.console.core.engine.state import (
    AftercareCase,
    Campaign,
    EngineState,
    Incident,
    Visit,
    needs_aftercare,
)
from stilalarm.console.core.engine.step import Input, PersonCmdIn, Tick, UnitEventIn, next_due, step

__all__ = [
    "TEST_REPEAT_GUARD",
    "AftercareCase",
    "Campaign",
    "EngineState",
    "Incident",
    "Input",
    "PersonCmdIn",
    "Tick",
    "UnitEventIn",
    "Visit",
    "evolve",
    "led_for",
    "needs_aftercare",
    "next_due",
    "open_incident_of_unit",
    "rebuild",
    "step",
    "test_window_for",
]
