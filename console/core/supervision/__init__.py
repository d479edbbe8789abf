"""Unit supervision: a pure state machine over unit status, heartbeats and fault events.

`step(state, input, now) -> (state, effects)` with the engine's effect vocabulary
(`stilalarm.console.core.effects`: `Record`, `Notify`, `SendReceipt`) plus `PublishHealth`.

- `state`: what the log says of each unit (`UnitRecord`), what heartbeats say (`LiveHealth`).
- `fold`: `evolve` (one fact) and `rebuild` (a log).
- `step`: the inputs, `step`, `next_due` and the tick (the console's own stalls).
- `liveness`: status, heartbeats, fault events, silence and flap-window summaries.
- `transitions`: recording a unit's transition and telling facilities and leads.
- `buildings`: a building's link as one (every Pi unit offline: one notice to facilities).
- `clock`: the unit's clock against the console's (`unit:clock`).
- `buttons`: the daily check of overdue and faulty buttons.
"""

from stilalarm.console.core.supervision.buttons import check_due, next_slot
from stilalarm.console.core.supervision.fold import evolve, rebuild
from stilalarm.console.core.supervision.state import LiveHealth, UnitRecord, UnitsState
from stilalarm.console.core.supervision.step import (
    FaultIn,
    HeartbeatIn,
    StatusIn,
    SupInput,
    SupTick,
    next_due,
    step,
)
from stilalarm.console.core.supervision.transitions import room_protected

__all__ = [
    "FaultIn",
    "HeartbeatIn",
    "LiveHealth",
    "StatusIn",
    "SupInput",
    "SupTick",
    "UnitRecord",
    "UnitsState",
    "check_due",
    "evolve",
    "next_due",
    "next_slot",
    "rebuild",
    "room_protected",
    "step",
]
