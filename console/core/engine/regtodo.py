"""The registrations a person still has to complete (pure): the list their console shows.

A registration is on P's list while it lacks the lead's part and P may complete it: a lead or
deputy of its team (`may_complete`, the same rule the engine applies to `registration_complete`).
Nobody else's console ever receives it: the list goes retained to P's own topic
(`person/P/registrations`), which only P's login may read (docs/REGISTRATION.md).
"""

from __future__ import annotations

from datetime import UTC, datetime

from stilalarm.console.core.engine.registrations import may_complete
from stilalarm.console.core.engine.regstate import RegCase
from stilalarm.console.core.engine.state import EngineState
from stilalarm.wire.messages import (
    MAX_PAYLOAD_BYTES,
    TODO_MAX,
    RegistrationTodo,
    RegistrationTodoItem,
    encode,
)

CLIP_TO = 400
"""'What happened' is shortened to this many characters when the whole list would not fit one
message; the console's form says so, and the export has the whole text."""
ROOM = 1024
"""Bytes kept free under the payload limit (the topic and the MQTT header travel beside it)."""


def to_complete(s: EngineState, person: str) -> list[RegCase]:
    """The incomplete registrations `person` may complete, oldest first."""
    out = [c for c in s.registrations.values() if not c.complete and c.filed is not None]
    return sorted((c for c in out if may_complete(s, c, person)), key=lambda c: (c.filed_at, c.id))


def _item(c: RegCase, clip: int | None) -> RegistrationTodoItem:
    f = c.filed
    assert f is not None  # to_complete keeps only those with the victim's part
    what = f.what_happened
    clipped = clip is not None and len(what) > clip
    return RegistrationTodoItem(
        registration_id=c.id,
        incident_id=c.incident_id,
        team_id=c.team_id,
        victim=c.victim,
        filed_at=c.filed_at,
        occurred_at=f.occurred_at,
        place_kind=f.place_kind,
        room_id=c.room_id,
        what_happened=what[: clip - 1] + "…" if clipped and clip is not None else what,
        clipped=clipped,
        aggression_types=f.aggression_types,
        how_are_you=f.how_are_you,
        weapon=f.weapon,
        stalking=f.stalking,
        telephone_stalking=f.telephone_stalking,
        damage_belongings=f.damage_belongings,
        animals=f.animals,
        alcohol_drugs=f.alcohol_drugs,
        sexual_intimidation=f.sexual_intimidation,
        reminders_sent=c.reminders_sent,
    )


def todo_items(s: EngineState, person: str) -> tuple[tuple[RegistrationTodoItem, ...], int]:
    """The list's items and how many did not fit (whole texts when they fit one message, else
    shortened; the newest left out when even that is too much)."""
    cases = to_complete(s, person)
    for clip in (None, CLIP_TO):
        items = tuple(_item(c, clip) for c in cases[:TODO_MAX])
        if _fits(person, items):
            return items, len(cases) - len(items)
    items = tuple(_item(c, CLIP_TO) for c in cases[:TODO_MAX])
    while items and not _fits(person, items):
        items = items[:-1]
    return items, len(cases) - len(items)


def todo_message(
    person: str, items: tuple[RegistrationTodoItem, ...], more: int, now: datetime
) -> RegistrationTodo:
    return RegistrationTodo(person_id=person, at=now, items=items, more=more)


def _fits(person: str, items: tuple[RegistrationTodoItem, ...]) -> bool:
    msg = RegistrationTodo(person_id=person, at=datetime(2000, 1, 1, tzinfo=UTC), items=items, more=0)
    return len(encode(msg)) <= MAX_PAYLOAD_BYTES - ROOM
