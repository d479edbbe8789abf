"""The active console's view of its standbys (console/core/standbys.py): pure, times injected."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from stilalarm.console.core.standbys import (
    Check,
    EnoughAgain,
    Heard,
    OlderStandby,
    Policy,
    Standbys,
    TooFew,
    older,
    start,
    step,
)

P = Policy(me="a", version="1.4.0", want=1, silent_after_s=30.0)


def run(s: Standbys, *events: Heard | Check, p: Policy = P) -> tuple[Standbys, list[object]]:
    out: list[object] = []
    for ev in events:
        s, effects = step(s, ev, p)
        out += effects
    return s, out


def test_a_standby_heard_in_time_raises_nothing() -> None:
    s = start(0.0)
    _, out = run(s, *(e for t in range(0, 120, 5) for e in (Heard("b", "1.4.0", t), Check(t + 1.0))))
    assert out == []


def test_a_standby_that_falls_silent_is_told_once_and_its_return_once() -> None:
    s, out = run(start(0.0), Heard("b", "1.4.0", 1.0), Check(10.0), Check(31.0))
    assert out == []  # 30 s since b was heard: not yet
    s, out = run(s, Check(31.5), Check(40.0), Check(90.0))
    assert out == [TooFew((), (("b", 30.5),), 1)]
    s, out = run(s, Heard("b", "1.4.0", 95.0), Check(96.0), Check(97.0))
    assert out == [EnoughAgain(("b",))]


def test_no_standby_ever_heard_is_told_after_the_grace_period() -> None:
    _, out = run(start(100.0), Check(101.0), Check(129.0))
    assert out == []  # standbys had no time to be heard yet
    _, out = run(start(100.0), Check(130.5), Check(131.0))
    assert out == [TooFew((), (), 1)]


def test_its_own_announcements_are_not_a_standby() -> None:
    _, out = run(start(0.0), Heard("a", "1.4.0", 29.0), Check(31.0))
    assert out == [TooFew((), (), 1)]


def test_want_zero_tells_nothing() -> None:
    p = Policy(me="a", version="1.4.0", want=0, silent_after_s=30.0)
    _, out = run(start(0.0), Check(100.0), p=p)
    assert out == []


def test_two_standbys_wanted_one_silent() -> None:
    p = Policy(me="a", version="1.4.0", want=2, silent_after_s=10.0)
    s, out = run(start(0.0), Heard("b", "1.4.0", 1.0), Heard("c", "1.4.0", 1.0), Check(5.0), p=p)
    assert out == []
    s, out = run(s, Heard("b", "1.4.0", 9.0), Check(12.0), p=p)
    assert out == [TooFew(("b",), (("c", 11.0),), 2)]


def test_an_older_standby_is_told_once_per_version_a_newer_one_never() -> None:
    s, out = run(start(0.0), Heard("b", "1.3.9", 1.0), Heard("b", "1.3.9", 5.0), Heard("c", "1.5", 5.0))
    assert out == [OlderStandby("b", "1.3.9", "1.4.0")]
    _, out = run(s, Heard("b", "1.3.10", 9.0), Heard("b", "1.4.0", 13.0))
    assert out == [OlderStandby("b", "1.3.10", "1.4.0")]


def test_versions_compare_as_versions() -> None:
    assert older("1.9", "1.10") and not older("1.10", "1.9")
    assert not older("1.4.0", "1.4") and older("0+unknown", "1.0")
    assert older("garbage", "1.0") and not older("garbage", "garbage")


@given(st.lists(st.tuples(st.booleans(), st.floats(0, 40)), max_size=60))
def test_told_alternately_never_twice_in_a_row(script: list[tuple[bool, float]]) -> None:
    """Whatever the timing: too few and enough again alternate, starting with too few."""
    s, t, told = start(0.0), 0.0, []
    for hear, gap in script:
        t += gap
        for ev in (Heard("b", "1.4.0", t), Check(t)) if hear else (Check(t),):
            s, out = step(s, ev, P)
            told += [type(e) for e in out]
    assert all(a is not b for a, b in itertools.pairwise(told))
    assert not told or told[0] is TooFew
