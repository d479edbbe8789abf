"""The whole functional core: incident engine + unit supervision over one fact log.

Each core decides facts for its own inputs; every recorded fact is folded into
both (a test result sets a unit's last successful test, for instance). `rebuild`
folds the stored log the same way, so the live state and the rebuilt one agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from stilalarm.console.config import EnginePolicy, SupervisionPolicy
from stilalarm.console.core import engine, supervision
from stilalarm.console.core.effects import PublishHealth, Record, SupEffect, UnitFeedback
from stilalarm.console.core.engine import EngineState, Incident
from stilalarm.console.core.supervision import UnitsState
from stilalarm.console.facts import Fact, TestResult, UnitOnline, UnitRestarted
from stilalarm.inventory.model import Site

Input = engine.Input | supervision.SupInput


@dataclass(frozen=True)
class Tick:
    """Time passed, for both cores. `mono`: the shell's monotonic clock (seconds), and
    `listening`: whether the console is connected to the broker; they let supervision tell
    the console's own stall or deafness from silent units (see `supervision.SupTick`)."""

    mono: float | None = None
    listening: bool = True


@dataclass(frozen=True)
class World:
    """The console's complete in-memory state."""

    engine: EngineState
    units: UnitsState

    @staticmethod
    def initial(
        site: Site,
        started_at: datetime,
        engine_policy: EnginePolicy | None = None,
        supervision_policy: SupervisionPolicy | None = None,
    ) -> World:
        return World(
            EngineState.initial(site, engine_policy),
            UnitsState.initial(site, started_at, supervision_policy),
        )

    def comparable(self) -> tuple[object, ...]:
        """Everything that is derived from the log (not heartbeats)."""
        return (self.engine.comparable(), self.units.comparable())


def evolve(w: World, fact: Fact) -> World:
    """Fold one fact into both cores."""
    return World(engine.evolve(w.engine, fact), supervision.evolve(w.units, fact))


def rebuild(
    site: Site,
    facts: Iterable[Fact],
    started_at: datetime,
    engine_policy: EnginePolicy | None = None,
    supervision_policy: SupervisionPolicy | None = None,
) -> World:
    """The state after folding the whole log (what a restart starts from)."""
    w = World.initial(site, started_at, engine_policy, supervision_policy)
    for f in facts:
        w = evolve(w, f)
    return w


def rebuild_with_history(
    site: Site,
    facts: Iterable[Fact],
    started_at: datetime,
    engine_policy: EnginePolicy | None = None,
    supervision_policy: SupervisionPolicy | None = None,
) -> tuple[World, dict[str, Incident]]:
    """Like `rebuild`, plus every incident ever (as last seen before its retention ended)."""
    w = World.initial(site, started_at, engine_policy, supervision_policy)
    history: dict[str, Incident] = {}
    for f in facts:
        w = evolve(w, f)
        iid = getattr(f, "incident_id", None)
        if iid is not None and iid in w.engine.incidents:
            history[iid] = w.engine.incidents[iid]
    return w, history


def step(w: World, inp: Input | Tick, now: datetime) -> tuple[World, list[SupEffect]]:
    """Route an input to its core, fold the recorded facts into the other one."""
    if isinstance(inp, Tick):
        w, e1 = step(w, engine.Tick(), now)
        w, e2 = step(w, supervision.SupTick(inp.mono, inp.listening), now)
        return w, e1 + e2
    if isinstance(inp, engine.UnitEventIn | engine.PersonCmdIn | engine.Tick):
        es, effects = engine.step(w.engine, inp, now)
        units = w.units
        out: list[SupEffect] = list(effects)
        for eff in effects:
            if isinstance(eff, Record):
                units = supervision.evolve(units, eff.fact)
                if isinstance(eff.fact, TestResult) and eff.fact.unit_id in units.units:
                    out.append(PublishHealth(eff.fact.unit_id))  # last_test_ok changed
        return World(es, units), out
    us, sup_effects = supervision.step(w.units, inp, now)
    es = w.engine
    out_sup: list[SupEffect] = list(sup_effects)
    for e in sup_effects:
        if isinstance(e, Record):
            es = engine.evolve(es, e.fact)
            if isinstance(e.fact, UnitOnline | UnitRestarted):
                out_sup += _restore_feedback(es, e.fact.unit_id)
    return World(es, us), out_sup


def _restore_feedback(es: EngineState, unit_id: str) -> list[SupEffect]:
    """A unit that comes (back) online during its incident gets its LED state again
    (it may have restarted and lost it)."""
    inc = engine.open_incident_of_unit(es, unit_id)
    if inc is None:
        return []
    return [UnitFeedback(unit_id, inc.id, engine.led_for(inc))]


def next_due(w: World) -> datetime | None:
    """The earliest time a Tick has work."""
    dues = [d for d in (engine.next_due(w.engine), supervision.next_due(w.units)) if d is not None]
    return min(dues) if dues else None
