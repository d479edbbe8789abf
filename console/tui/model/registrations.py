"""The registrations I still have to complete ("Meldingen"), as rows and as the victim's part the
form shows (pure: no Textual, no MQTT, no clock).

The list is what the console service published on my own retained topic
(`person/P/registrations`, docs/REGISTRATION.md): only the registrations of my teams that lack the
lead's part. Completing one sends the same `RegistrationCompleteCmd` the CLI sends, validated by
the same model before it leaves.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from stilalarm.console.tui.model.context import Ctx
from stilalarm.wire.messages import RegistrationCompleteCmd, RegistrationTodo, RegistrationTodoItem

SPECIAL = (
    "weapon",
    "stalking",
    "telephone_stalking",
    "damage_belongings",
    "animals",
    "alcohol_drugs",
    "sexual_intimidation",
)
"""The victim's special cases (yes/no fields of the victim's part), in the form's order."""


@dataclass(frozen=True)
class RegRow:
    """One registration to complete, in words."""

    registration_id: str
    when_text: str
    place_text: str
    victim: str
    team: str
    forms_text: str
    what_short: str
    weapon: bool
    reminded: int


@dataclass(frozen=True)
class RegList:
    rows: tuple[RegRow, ...]
    more: int = 0


def _place(item: RegistrationTodoItem, ctx: Ctx) -> str:
    kind = ctx.texts.place.get(item.place_kind.value, item.place_kind.value)
    if item.room_id and item.room_id in ctx.site.index.rooms:
        return f"{kind} · {ctx.room_label(item.room_id)}"
    return kind


def _when(at: datetime, ctx: Ctx) -> str:
    return ctx.day_time(at)


def reg_list(todo: RegistrationTodo | None, ctx: Ctx) -> RegList:
    """The rows of the Meldingen view, oldest first (as the service sent them)."""
    if todo is None or todo.person_id != ctx.me:
        return RegList(())
    rows = []
    for it in todo.items:
        team = ctx.site.index.teams.get(it.team_id)
        first = it.what_happened.splitlines()[0] if it.what_happened else ""
        rows.append(
            RegRow(
                registration_id=it.registration_id,
                when_text=_when(it.occurred_at, ctx),
                place_text=_place(it, ctx),
                victim=ctx.short_name(it.victim),
                team=team.name if team else it.team_id,
                forms_text=", ".join(ctx.texts.aggression.get(a.value, a.value) for a in it.aggression_types),
                what_short=first[:80],
                weapon=it.weapon,
                reminded=it.reminders_sent,
            )
        )
    return RegList(tuple(rows), todo.more)


def item_of(todo: RegistrationTodo | None, registration_id: str) -> RegistrationTodoItem | None:
    if todo is None:
        return None
    return next((it for it in todo.items if it.registration_id == registration_id), None)


def victim_part(it: RegistrationTodoItem, ctx: Ctx) -> list[tuple[str, str]]:
    """The victim's part as (label, text) lines for the form (read only)."""
    t = ctx.texts
    lines = [
        (t.reg_victim, ctx.short_name(it.victim)),
        (t.reg_when, t.reg_when_text.format(when=_when(it.occurred_at, ctx), filed=_when(it.filed_at, ctx))),
        (t.reg_place, _place(it, ctx)),
    ]
    if it.incident_id:
        lines.append((t.reg_alarm, it.incident_id))
    lines.append((t.f_types, ", ".join(t.aggression.get(a.value, a.value) for a in it.aggression_types)))
    what = it.what_happened + (f" ({t.reg_clipped})" if it.clipped else "")
    lines.append((t.reg_what, what))
    if it.how_are_you:
        lines.append((t.reg_how, it.how_are_you))
    special = [t.special.get(k, k) for k in SPECIAL if getattr(it, k)]
    lines.append((t.reg_special, ", ".join(special) if special else "—"))
    return lines


def complete_cmd(
    me: str, registration_id: str, values: dict[str, object], cmd_id: uuid.UUID, now: datetime
) -> RegistrationCompleteCmd:
    """The lead's part as the command the CLI sends (`alarm-console register complete`); raises
    pydantic's ValidationError with the model's own reasons (no second validation here)."""
    head = {"cmd_id": cmd_id, "person_id": me, "issued_at": now, "registration_id": registration_id}
    return RegistrationCompleteCmd.model_validate({**head, **values})
