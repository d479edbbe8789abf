"""The running risky conversations (risicogesprek) this console's person was told of, and which one
the confirm key (v) confirms. Pure: from the person's retained copies (`risk/P/R`) and `now`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from stilalarm.console.tui.model.context import Ctx
from stilalarm.console.tui.model.received import Received


@dataclass(frozen=True)
class RiskRow:
    risk_id: str
    text: str
    to_confirm: bool
    """I am its stand-by colleague and it is not confirmed yet."""


def build_risks(rec: Received, ctx: Ctx, now: datetime) -> tuple[RiskRow, ...]:
    """One line per conversation whose window has not ended (by this console's clock too: the
    service clears it at the end, but may be away), by start."""
    t = ctx.texts
    rows = []
    for r in sorted(rec.risks.values(), key=lambda x: (x.starts_at, x.risk_id)):
        if r.ends_at <= now:
            continue
        confirmed = r.confirmed
        text = t.risk_line.format(
            room=ctx.room_label(r.room_id),
            start=ctx.time(r.starts_at)[:5],
            end=ctx.time(r.ends_at)[:5],
            person=ctx.name(r.person_id),
            standby=ctx.name(r.standby),
            state=t.risk_confirmed if confirmed else t.risk_unconfirmed,
        )
        rows.append(RiskRow(r.risk_id, text, to_confirm=r.standby == ctx.me and not confirmed))
    return tuple(rows)


def confirm_target(rows: tuple[RiskRow, ...]) -> str | None:
    """The conversation the confirm key confirms: the first one I stand by for, not yet confirmed."""
    return next((r.risk_id for r in rows if r.to_confirm), None)
