"""Is a desk phone still there (pure; monotonic time is handed in).

A phone is heard when it presses or calls its keep-alive URL. Not heard for the site's
`phone_silent_after_min`, it is silent: alarm-web raises the unit's `silent` fault (facilities
are told by the console like any unit fault); heard again, the fault clears. Which phones are
silent survives a restart (the shell keeps the set on disk); the silence clock starts again at
the start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum


class Change(StrEnum):
    SILENT = "silent"
    HEARD_AGAIN = "heard_again"


@dataclass(frozen=True)
class Phones:
    """When each phone was last heard (monotonic s) and which are silent."""

    heard_at: Mapping[str, float]
    silent: frozenset[str]
    limit_s: float

    @staticmethod
    def start(ids: Iterable[str], silent: Iterable[str], now: float, limit_s: float) -> Phones:
        ids = tuple(ids)
        return Phones({i: now for i in ids}, frozenset(silent) & frozenset(ids), limit_s)


def heard(s: Phones, uid: str, now: float) -> tuple[Phones, Change | None]:
    """The phone called (a press or its keep-alive)."""
    if uid not in s.heard_at:
        return s, None
    s2 = replace(s, heard_at={**s.heard_at, uid: max(now, s.heard_at[uid])})
    if uid in s.silent:
        return replace(s2, silent=s.silent - {uid}), Change.HEARD_AGAIN
    return s2, None


def check(s: Phones, now: float) -> tuple[Phones, list[str]]:
    """Phones that fell silent by `now` (each reported once until heard again)."""
    gone = [u for u, t in s.heard_at.items() if u not in s.silent and now - t >= s.limit_s]
    if not gone:
        return s, []
    return replace(s, silent=s.silent | frozenset(gone)), gone


def next_check(s: Phones) -> float | None:
    """When the next phone falls silent if none is heard (monotonic s), None if none can."""
    due = [t + s.limit_s for u, t in s.heard_at.items() if u not in s.silent]
    return min(due) if due else None
