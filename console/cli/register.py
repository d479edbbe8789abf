"""`alarm-console register file | complete | correct`: registration of every incident ("Melding agressie")
over MQTT, with the person's own credentials like `alarm-console ack` (docs/REGISTRATION.md).

    alarm-console register file --as hanne --place balie --what "Scheldwoorden aan de balie" \\
        --form verbaal [--room balie-1] [--at 10:15] [--how "Ik ben aangedaan"] [--weapon] ...
    alarm-console register file --as hanne --incident inc-20261125-1 --what "..." --form fysiek
    alarm-console register complete REG --as an --severity agressie [--police --pv "PV 12/345"] \\
        [--sanctions waarschuwing,ordegesprek] [--accident] [--aftercare opvang]
    alarm-console register correct REG --as hanne --what "..." --form verbaal [...]   (victim's part)
    alarm-console register correct REG --as an --severity geweld [--police ...]      (lead's part)
"""

from __future__ import annotations

import argparse
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from stilalarm.console.cli.sendcmd import run_person_command
from stilalarm.console.cli.visit import planned_end
from stilalarm.wire.messages import (
    Aftercare,
    AggressionType,
    LeadPart,
    PlaceKind,
    RegistrationCompleteCmd,
    RegistrationCorrectCmd,
    RegistrationFileCmd,
    Sanction,
    Severity,
    VictimPart,
    new_id,
    utcnow,
)

SPECIAL = (
    ("weapon", "a weapon was used or shown (always aggression; police at once)"),
    ("stalking", "stalking"),
    ("telephone_stalking", "telephone stalking"),
    ("damage_belongings", "damage to personal belongings"),
    ("animals", "animals were involved"),
    ("alcohol_drugs", "under the influence of alcohol or drugs"),
    ("sexual_intimidation", "sexual intimidation"),
)


def _csv(values: type[Any]) -> Callable[[str], tuple[Any, ...]]:
    def parse(text: str) -> tuple[Any, ...]:
        return tuple(values(x.strip()) for x in text.split(",") if x.strip())

    return parse


def _victim_args(p: argparse.ArgumentParser) -> None:
    """What the victim tells (`VictimPart`): for `file` and for a correction of the victim's part."""
    p.add_argument("--what", help="what happened (required)")
    p.add_argument("--form", help="forms of aggression, comma-separated: verbaal,fysiek,psychisch (required)")
    p.add_argument("--how", default="", help="how you are doing (optional)")
    for name, text in SPECIAL:
        p.add_argument(f"--{name.replace('_', '-')}", action="store_true", help=text)


def _lead_args(p: argparse.ArgumentParser, *, required: bool) -> None:
    """What the lead adds (`LeadPart`): for `complete` and for a correction of the lead's part."""
    p.add_argument("--severity", required=required, choices=[s.value for s in Severity])
    p.add_argument("--police", action="store_true", help="the police were called (101)")
    p.add_argument("--pv", help="the proces-verbaal number")
    p.add_argument("--sanctions", default="", help="comma-separated: " + ",".join(s.value for s in Sanction))
    p.add_argument("--accident", action="store_true", help="declared as an occupational accident")
    p.add_argument(
        "--aftercare", default="", help="after-care offered: " + ",".join(a.value for a in Aftercare)
    )
    p.add_argument("--note", default="", help="a note (optional)")


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    person_args: Callable[[argparse.ArgumentParser], None],
) -> None:
    """The `register` command and its actions."""
    r = sub.add_parser("register", help="register an incident (Melding agressie): your part, or the lead's")
    rsub = r.add_subparsers(dest="register_command", required=True, metavar="ACTION")
    rf = rsub.add_parser("file", help="the victim's part (prints the registration id)")
    person_args(rf)
    where = rf.add_mutually_exclusive_group(required=True)
    where.add_argument("--place", choices=[p.value for p in PlaceKind], help="where it happened")
    where.add_argument("--incident", help="the alarm it follows (the place comes from its room)")
    rf.add_argument("--room", help="the room, when it happened in one")
    rf.add_argument("--at", help="when: HH:MM today (site-local) or ISO 8601 with offset (default: now)")
    _victim_args(rf)
    rf.add_argument("--registration-id", help="the id (default: a new one; give the same one to retry)")
    rc = rsub.add_parser("complete", help="the lead's part (a lead or deputy of the team)")
    rc.add_argument("registration", help="the registration id")
    person_args(rc)
    _lead_args(rc, required=True)
    rx = rsub.add_parser(
        "correct",
        help="a new version of one part: --what/--form... (the victim's, its author) or --severity... "
        "(the lead's, its author or a lead or deputy of the team); give the whole part",
    )
    rx.add_argument("registration", help="the registration id")
    person_args(rx)
    _victim_args(rx)
    _lead_args(rx, required=False)


def new_registration_id(now: datetime) -> str:
    """A fresh registration id: reg-<day>-<random> (lowercase, like every id)."""
    return f"reg-{now:%Y%m%d}-{secrets.token_hex(4)}"


def _victim(args: argparse.Namespace) -> dict[str, Any]:
    if not args.what or not args.form:
        raise ValueError("give --what and --form (what happened, the forms of aggression)")
    return {
        "what_happened": args.what,
        "aggression_types": _csv(AggressionType)(args.form),
        "how_are_you": args.how,
        **{name: bool(getattr(args, name)) for name, _ in SPECIAL},
    }


def _lead(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "severity": Severity(args.severity),
        "police_called": bool(args.police or args.pv),
        "pv_number": args.pv,
        "sanctions": _csv(Sanction)(args.sanctions),
        "occupational_accident": bool(args.accident),
        "aftercare": _csv(Aftercare)(args.aftercare),
        "note": args.note,
    }


def _correction(args: argparse.Namespace, base: dict[str, Any]) -> RegistrationCorrectCmd:
    victim_given = bool(args.what or args.form or args.how or any(getattr(args, n) for n, _ in SPECIAL))
    lead_given = bool(
        args.severity
        or args.police
        or args.pv
        or args.sanctions
        or args.accident
        or args.aftercare
        or args.note
    )
    if victim_given == lead_given:
        raise ValueError(
            "correct one part: the victim's (--what, --form, ...) or the lead's (--severity, ...)"
        )
    if victim_given:
        return RegistrationCorrectCmd(
            registration_id=args.registration, victim=VictimPart(**_victim(args)), **base
        )
    if not args.severity:
        raise ValueError("give --severity (the whole lead's part: severity, police, sanctions, ...)")
    return RegistrationCorrectCmd(registration_id=args.registration, lead=LeadPart(**_lead(args)), **base)


def build(
    args: argparse.Namespace, timezone: str
) -> RegistrationFileCmd | RegistrationCompleteCmd | RegistrationCorrectCmd:
    """The command the arguments ask for (ValueError / ValidationError when they are wrong): the
    parts are validated by the same models (`VictimPart`, `LeadPart`) for filing, completing and
    correcting."""
    now = utcnow()
    base: dict[str, Any] = {"cmd_id": new_id(), "person_id": args.person, "issued_at": now}
    if args.register_command == "file":
        return RegistrationFileCmd(
            registration_id=args.registration_id or new_registration_id(now),
            incident_id=args.incident,
            place_kind=args.place,
            room_id=args.room,
            occurred_at=planned_end(args.at, ZoneInfo(timezone), now) if args.at else None,
            **_victim(args),
            **base,
        )
    if args.register_command == "correct":
        return _correction(args, base)
    return RegistrationCompleteCmd(registration_id=args.registration, **_lead(args), **base)


def register_command(args: argparse.Namespace) -> int:
    return run_person_command(
        args,
        build,
        lambda cmd, _reply: cmd.registration_id,
        lambda cmd: f"(--registration-id {cmd.registration_id})" if cmd.kind == "registration_file" else "",
    )
