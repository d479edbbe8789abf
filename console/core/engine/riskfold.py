"""The fold of risky-conversation facts into the engine's state, and who stands by for a room.

A risky conversation (risicogesprek) lives in `EngineState.risks` from its announcement until a day
after its window ends (so a retried command is answered, not redone). `standby_for` is asked when an
alarm's first level fires. Its two timers (`risk.fire_risks`) leave their mark as `Notified` facts:
the stand-by colleague's reminder at the start (`risk_start`, `risk_start_unconfirmed`) and, at the
end, a fact to nobody (`risk_ended`) when its retained state is cleared; `mark_risk` folds them, so
neither is done again after a restart.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from stilalarm.console.core.engine.state import EngineState, Risk
from stilalarm.console.facts import Notified
from stilalarm.console.riskfacts import RiskAnnounced, RiskCancelled, RiskConfirmed, RiskFact

KEEP_AFTER = timedelta(days=1)
"""A conversation stays in the state this long after its window (or its cancellation)."""

RISK_START = "risk_start"
"""The stand-by colleague's reminder at the window's start (confirmed)."""
RISK_START_UNCONFIRMED = "risk_start_unconfirmed"
"""The same reminder while the stand-by is not confirmed yet ("nog niet bevestigd")."""
RISK_ENDED = "risk_ended"
"""The window ended: its retained state is cleared (a fact to nobody)."""
RISK_MARKS = frozenset({RISK_START, RISK_START_UNCONFIRMED, RISK_ENDED})
"""The `Notified` text keys `mark_risk` folds (detail `risk`: the conversation)."""


def apply_risk(s: EngineState, f: RiskFact) -> EngineState:
    """Apply one risky-conversation fact (pure)."""
    match f:
        case RiskAnnounced():
            r = Risk(
                id=f.risk_id,
                person_id=f.person_id,
                room_id=f.room_id,
                team_id=f.team_id,
                standby=f.standby,
                starts_at=f.starts_at,
                ends_at=f.ends_at,
                announced_at=f.at,
                outside_hours=f.outside_hours,
            )
            kept = {k: x for k, x in s.risks.items() if not _gone(x, f.at)}
            return replace(s, risks={**kept, r.id: r})
        case RiskConfirmed() if f.risk_id in s.risks:
            r = s.risks[f.risk_id]
            if r.confirmed_at is not None:
                return s
            return replace(
                s, risks={**s.risks, r.id: replace(r, confirmed_by=f.person_id, confirmed_at=f.at)}
            )
        case RiskCancelled() if f.risk_id in s.risks:
            r = s.risks[f.risk_id]
            if r.cancelled_at is not None:
                return s
            return replace(
                s, risks={**s.risks, r.id: replace(r, cancelled_by=f.person_id, cancelled_at=f.at)}
            )
        case _:
            return s


def mark_risk(s: EngineState, f: Notified) -> EngineState:
    """Fold a conversation's timer mark: reminded at the start, or ended (pure)."""
    r = s.risks.get(f.detail.get("risk", ""))
    if r is None:
        return s
    if f.text_key == RISK_ENDED:
        return s if r.ended else replace(s, risks={**s.risks, r.id: replace(r, ended=True)})
    return s if r.reminded else replace(s, risks={**s.risks, r.id: replace(r, reminded=True)})


def standby_for(s: EngineState, room_id: str | None, now: datetime) -> tuple[str, ...]:
    """The stand-by colleagues of the risky conversations in `room_id` at `now`, confirmed or not
    (help is open: an unconfirmed stand-by colleague is still the nearest help), without those who
    marked themselves absent; in announcement order."""
    if room_id is None or not s.risks:
        return ()
    out: list[str] = []
    for r in sorted(s.risks.values(), key=lambda x: x.announced_at):
        if r.covers(room_id, now) and r.standby not in s.absent and r.standby not in out:
            out.append(r.standby)
    return tuple(out)


def running_risks(s: EngineState, now: datetime) -> tuple[Risk, ...]:
    """The conversations not cancelled whose window has not ended at `now`, by start."""
    return tuple(
        sorted(
            (r for r in s.risks.values() if r.cancelled_at is None and r.ends_at > now),
            key=lambda r: r.starts_at,
        )
    )


def _gone(r: Risk, now: datetime) -> bool:
    end = r.cancelled_at if r.cancelled_at is not None else r.ends_at
    return end + KEEP_AFTER < now
