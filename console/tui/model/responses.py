"""What the keys 'Kan niet komen' (n) and 'Ter plaatse' (d) act on: never a guess among several."""

from __future__ import annotations

from dataclasses import dataclass

from stilalarm.console.tui.model.alarms import AlarmsView
from stilalarm.console.tui.texts import Texts
from stilalarm.wire.messages import IncidentStatus


@dataclass(frozen=True)
class ResponseDecision:
    """Either the incident to send the command for, or the message why not."""

    incident_id: str | None
    message: str


def decline_target(view: AlarmsView, texts: Texts) -> ResponseDecision:
    """'Kan niet komen': the selected open alarm routed to me (picked first when several are open)."""
    row = view.selected
    if row is None or row.status is not IncidentStatus.OPEN or not row.for_me or row.visit_id is not None:
        return ResponseDecision(None, texts.decline_none)
    if view.open_count > 1 and not view.selection.explicit:
        return ResponseDecision(None, texts.decline_none)
    return ResponseDecision(row.incident_id, texts.decline_sent.format(num=row.number, location=row.location))


def on_site_target(view: AlarmsView, texts: Texts, me: str) -> ResponseDecision:
    """'Ter plaatse': the selected alarm I acknowledged, or the only one I acknowledged and am not yet
    on site for."""
    mine = [
        r
        for r in view.rows
        if r.status is IncidentStatus.ACKNOWLEDGED and r.ack_by == me and not r.on_site and r.visit_id is None
    ]
    sel = view.selected
    row = sel if sel is not None and sel in mine else (mine[0] if len(mine) == 1 else None)
    if row is None:
        return ResponseDecision(None, texts.on_site_none)
    return ResponseDecision(row.incident_id, texts.on_site_sent.format(num=row.number, location=row.location))
