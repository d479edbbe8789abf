"""Validate raw MQTT messages into core inputs, or a rejection with a reason (pure).

Every message is checked against the wire contract; the unit / person id in the
topic must equal the one in the payload, and must be in the inventory. A
rejection carries a short `reason` (the counter key) and a `detail` for the log;
for a person command whose `cmd_id` can be read, the person gets a reply.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from stilalarm.console.core.engine import PersonCmdIn, UnitEventIn
from stilalarm.console.core.supervision import FaultIn, HeartbeatIn, StatusIn
from stilalarm.inventory.model import Site
from stilalarm.wire.messages import (
    ID_RE,
    MAX_PAYLOAD_BYTES,
    ContractError,
    EventKind,
    Heartbeat,
    UnitEvent,
    UnitStatus,
    parse,
    parse_person_command,
)
from stilalarm.wire.topics import PersonChannel, Topics, UnitChannel


@dataclass(frozen=True)
class Raw:
    """A message as paho delivered it (queued by the network thread, nothing else done)."""

    topic: str
    payload: bytes
    retained: bool = False


@dataclass(frozen=True)
class Rejected:
    """A message that is dropped; counted per `reason`, logged with `detail`."""

    reason: str
    detail: str
    reply_to: tuple[str, uuid.UUID] | None = None
    """(person id, cmd id) when the sender can be told."""


@dataclass(frozen=True)
class Ignored:
    """A message that needs nothing (e.g. a cleared retained status)."""


Accepted = UnitEventIn | PersonCmdIn | StatusIn | HeartbeatIn | FaultIn


def classify(site: Site, topics: Topics, raw: Raw) -> Accepted | Rejected | Ignored:
    """What a raw message is: a core input, or why it is refused."""
    unit = topics.parse_unit(raw.topic)
    if unit is not None:
        return _unit_message(site, unit[0], unit[1], raw)
    person = topics.parse_person(raw.topic)
    if person is not None and person[1] in (PersonChannel.CMD, PersonChannel.WEBCMD):
        return _person_message(site, person[0], raw, web=person[1] is PersonChannel.WEBCMD)
    return Rejected("unknown_topic", f"message on unexpected topic {raw.topic}")


def _unit_message(site: Site, unit_id: str, channel: UnitChannel, raw: Raw) -> Accepted | Rejected | Ignored:
    if unit_id not in site.index.units:
        return Rejected("unknown_unit", f"unit {unit_id!r} is not in the inventory ({raw.topic})")
    try:
        if channel is UnitChannel.EVENT:
            ev = parse(UnitEvent, raw.payload)
            if ev.unit_id != unit_id:
                return Rejected("id_mismatch", f"event on {unit_id}'s topic claims unit {ev.unit_id!r}")
            if ev.button_id is not None and ev.kind in (EventKind.ALARM, EventKind.TEST):
                if all(b.id != ev.button_id for b in site.unit(unit_id).buttons):
                    return Rejected("unknown_button", f"unit {unit_id} has no button {ev.button_id!r}")
            if ev.kind in (EventKind.FAULT, EventKind.FAULT_CLEARED):
                return FaultIn(ev)
            return UnitEventIn(ev)
        if channel is UnitChannel.STATUS:
            if not raw.payload:
                return Ignored()
            st = parse(UnitStatus, raw.payload)
            if st.unit_id != unit_id:
                return Rejected("id_mismatch", f"status on {unit_id}'s topic claims unit {st.unit_id!r}")
            return StatusIn(st)
        if channel is UnitChannel.HEARTBEAT:
            hb = parse(Heartbeat, raw.payload)
            if hb.unit_id != unit_id:
                return Rejected("id_mismatch", f"heartbeat on {unit_id}'s topic claims unit {hb.unit_id!r}")
            return HeartbeatIn(hb)
    except ContractError as exc:
        return Rejected(exc.code.value, f"unit {unit_id} {channel.value}: {exc}")
    return Rejected("unknown_topic", f"console does not read {raw.topic}")


def _cmd_id_of(payload: bytes) -> uuid.UUID | None:
    """The cmd_id of an invalid command, if one can be read (so the sender gets a reply)."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        return None
    try:
        data = json.loads(payload)
        return uuid.UUID(str(data["cmd_id"])) if isinstance(data, dict) else None
    except (ValueError, KeyError, TypeError, RecursionError):
        return None


WEB_COMMANDS = frozenset(
    {"visit_start", "visit_end", "registration_file", "risk_announce", "risk_confirm", "risk_cancel"}
)
"""What alarm-web may send for a person (on person/P/webcmd): home visits, the victim's part of a
registration, risky conversations. A stolen alarm-web password must not acknowledge, resolve, test,
complete a registration or mark anyone absent."""


def _person_message(site: Site, person_id: str, raw: Raw, *, web: bool = False) -> Accepted | Rejected:
    can_reply = bool(ID_RE.match(person_id))
    if person_id not in site.index.people:
        cid = _cmd_id_of(raw.payload) if can_reply else None
        return Rejected(
            "unknown_person",
            f"command from {person_id!r}, who is not in the inventory",
            (person_id, cid) if cid else None,
        )
    try:
        cmd = parse_person_command(raw.payload)
    except ContractError as exc:
        cid = _cmd_id_of(raw.payload)
        return Rejected(exc.code.value, f"command from {person_id}: {exc}", (person_id, cid) if cid else None)
    if cmd.person_id != person_id:
        return Rejected(
            "id_mismatch",
            f"command on {person_id}'s topic claims person {cmd.person_id!r}",
            (person_id, cmd.cmd_id),
        )
    if web and cmd.kind not in WEB_COMMANDS:
        return Rejected(
            "not_authorised",
            f"{cmd.kind} for {person_id} through alarm-web: it may only start and end home visits, "
            "file registrations and announce risky conversations",
            (person_id, cmd.cmd_id),
        )
    return PersonCmdIn(cmd)
