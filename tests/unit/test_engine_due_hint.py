"""The engine's due hint changes nothing but speed: the same random day of presses, commands and
ticks through an engine that keeps its hint and one that forgets it before every tick (and so
walks every incident, as before the hint) gives identical effects and states."""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from stilalarm.console.core import engine
from stilalarm.console.core.effects import Effect, Record
from stilalarm.console.core.engine import EngineState, PersonCmdIn, Tick, UnitEventIn
from stilalarm.console.core.engine.state import NEVER
from stilalarm.devkit.servicerun import FAST_SITE
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import (
    AckCmd,
    AggressionType,
    EventKind,
    Registration,
    ResolveCmd,
    Severity,
    UnitEvent,
)

SITE = parse_site(FAST_SITE)  # levels at 0 / 1 / 2 s, repeat every 5 s, remind after 60 s
T0 = datetime(2026, 11, 28, 9, 0, 0, tzinfo=UTC)
UNITS = ("spreekkamer-1", "balie-1", "wachtzaal")
REG = Registration(aggression_types=(AggressionType.VERBAAL,), severity=Severity.BOOSHEID, note="x")


def _inputs(seed: int, n: int) -> list[tuple[float, engine.Input]]:
    """A seeded mix: presses, acks, resolves and ticks at irregular times over ~40 minutes."""
    rnd = random.Random(seed)
    t = 0.0
    out: list[tuple[float, engine.Input]] = []
    for _ in range(n):
        t += rnd.choice((0.0, 0.3, 1.0, 2.5, 7.0, 40.0))
        r = rnd.random()
        now = T0 + timedelta(seconds=t)
        if r < 0.25:
            ev = UnitEvent(
                event_id=uuid.UUID(int=rnd.getrandbits(128)),
                unit_id=rnd.choice(UNITS),
                kind=EventKind.ALARM,
                button_id="knop",
                seq=1,
                boot_id=uuid.UUID(int=1),
                occurred_at=now,
                sent_at=now,
            )
            out.append((t, UnitEventIn(ev)))
        elif r < 0.35:
            out.append(
                (
                    t,
                    PersonCmdIn(
                        AckCmd(
                            cmd_id=uuid.UUID(int=rnd.getrandbits(128)),
                            person_id="an",
                            issued_at=now,
                            incident_id=_guess(rnd, now),
                        )
                    ),
                )
            )
        elif r < 0.42:
            out.append(
                (
                    t,
                    PersonCmdIn(
                        ResolveCmd(
                            cmd_id=uuid.UUID(int=rnd.getrandbits(128)),
                            person_id="an",
                            issued_at=now,
                            incident_id=_guess(rnd, now),
                            registration=REG,
                        )
                    ),
                )
            )
        else:
            out.append((t, Tick()))
    return out


def _guess(rnd: random.Random, now: datetime) -> str:
    return f"{now:%Y%m%d}-{rnd.randint(1, 12):04d}"


def _run(inputs: list[tuple[float, engine.Input]], *, forget: bool) -> tuple[list[Effect], EngineState]:
    s = EngineState.initial(SITE)
    log: list[Effect] = []
    for t, inp in inputs:
        if forget and isinstance(inp, Tick):
            s = replace(s, due_hint=None, dirty=frozenset())
        s, eff = engine.step(s, inp, T0 + timedelta(seconds=t))
        log += eff
    return log, s


def _ids_stripped(effects: list[Effect]) -> list[object]:
    """Effects with the fresh uuids of notices left out (they are random per run)."""
    out: list[object] = []
    for e in effects:
        if isinstance(e, Record):
            d = {k: v for k, v in vars(e.fact).items() if k not in ("notification_ids",)}
            out.append((type(e.fact).__name__, sorted(d.items(), key=lambda kv: kv[0]).__repr__()))
        else:
            out.append(type(e).__name__)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_hinted_engine_equals_walking_engine(seed: int) -> None:
    inputs = _inputs(seed, 400)
    fast, s_fast = _run(inputs, forget=False)
    slow, s_slow = _run(inputs, forget=True)
    assert _ids_stripped(fast) == _ids_stripped(slow)
    assert s_fast.comparable() == s_slow.comparable()
    assert any(isinstance(e, Record) and type(e.fact).__name__ == "Notified" for e in fast)


def test_the_hint_is_kept_and_marks_changed_incidents() -> None:
    s = EngineState.initial(SITE)
    s, _ = engine.step(s, Tick(), T0)
    assert s.due_hint == NEVER and engine.next_due(s) is None  # nothing scheduled
    press = UnitEvent(
        event_id=uuid.uuid4(),
        unit_id="balie-1",
        kind=EventKind.ALARM,
        button_id="knop",
        seq=1,
        boot_id=uuid.UUID(int=1),
        occurred_at=T0,
        sent_at=T0,
    )
    s, _ = engine.step(s, UnitEventIn(press), T0)
    (iid,) = s.incidents
    assert s.dirty == frozenset({iid})  # the hint still holds for everything else
    assert engine.next_due(s) == T0 + timedelta(seconds=1)  # level 2 of the fast site
    s, eff = engine.step(s, Tick(), T0 + timedelta(seconds=1))
    assert s.dirty == frozenset() and s.due_hint == T0 + timedelta(seconds=2)
    assert any(isinstance(e, Record) and type(e.fact).__name__ == "Notified" for e in eff)
