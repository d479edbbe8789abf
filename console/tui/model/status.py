"""The top bar: link and service state, and whether the screen may be out of date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from stilalarm.console.tui.model.context import Ctx
from stilalarm.console.tui.model.received import Received
from stilalarm.wire.messages import LinkState

MISSED_BEATS = 3
"""The console service is gone after this many of its beats (ConsoleStatus.beat_s) were not heard."""


@dataclass(frozen=True)
class Bar:
    """The top bar: `alarm` makes it red; the text always says what is wrong (never colour alone)."""

    alarm: bool
    text: str


def build_bar(rec: Received, ctx: Ctx, now: datetime, unreachable_teams: int = 0) -> Bar:
    """Disconnected, service offline or unknown: a red bar, at once."""
    t = ctx.texts
    problems: list[str] = []
    if not rec.link_up:
        if rec.ever_up and rec.down_since is not None:
            problems.append(t.bar_lost.format(since=ctx.time(rec.down_since)))
        else:
            problems.append(t.bar_connecting)
    elif rec.console is None:
        problems.append(t.bar_service_unknown)
    elif rec.console.state is LinkState.OFFLINE:
        problems.append(t.bar_service_offline.format(since=ctx.time(rec.console.at)))
    elif service_gone(rec, now):
        problems.append(t.bar_service_silent.format(since=ctx.time(rec.console_heard)))
    if problems:
        return Bar(True, " · ".join(problems))
    text = t.bar_ok
    if unreachable_teams:
        text += "   " + t.bar_unreachable.format(n=unreachable_teams)
    return Bar(False, text)


def service_gone(rec: Received, now: datetime) -> bool:
    """The service said it beats every `beat_s` but nothing was heard for MISSED_BEATS beats
    (by this console's clock `now`): it is hung or stopped, whatever the retained state says."""
    cs, heard = rec.console, rec.console_heard
    if cs is None or cs.state is not LinkState.ONLINE or cs.beat_s is None or heard is None:
        return False
    return (now - heard).total_seconds() > MISSED_BEATS * cs.beat_s


def is_stale(rec: Received, now: datetime | None = None) -> bool:
    """Whether what the screen shows may be out of date (no link, or no live service)."""
    if not rec.link_up or rec.console is None or rec.console.state is LinkState.OFFLINE:
        return True
    return now is not None and service_gone(rec, now)
