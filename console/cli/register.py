"""`alarm-console register file | complete`: registration of every incident ("Melding agressie")
over MQTT, with the person's own credentials like `alarm-console ack` (docs/REGISTRATION.md).

    alarm-console register file --as hanne --place balie --what "Scheldwoorden aan de balie" \\
        --form verbaal [--room balie-1] [--at 10:15] [--how "Ik ben aangedaan"] [--weapon] ...
    alarm-console register file --as hanne --incident inc-20261125-1 --what "..." --form fysiek
    alarm-console register complete REG --as an --severity agressie [--police --pv "PV 12/345"] \\
        [--sanctions waarschuwing,ordegesprek] [--accident] [--aftercare opvang]
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
    PlaceKind,
    RegistrationCompleteCmd,
    RegistrationFileCmd,
    Sanction,
    Severity,
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
    rf.add_argument("--what", required=True, help="what happened")
    rf.add_argument(
        "--form", required=True, help="forms of aggression, comma-separated: verbaal,fysiek,psychisch"
    )
    rf.add_argument("--how", default="", help="how you are doing (optional)")
    for name, text in SPECIAL:
        rf.add_argument(f"--{name.replace('_', '-')}", action="store_true", help=text)
    rf.add_argument("--registration-id", help="the id (default: a new one; give the same one to retry)")
    rc = rsub.add_parser("complete", help="the lead's part (a lead or deputy of the team)")
    rc.add_argument("registration", help="the registration id")
    person_args(rc)
    rc.add_argument("--severity", required=True, choices=[s.value for s in Severity])
    rc.add_argument("--police", action="store_true", help="the police were called (101)")
    rc.add_argument("--pv", help="the proces-verbaal number")
    rc.add_argument("--sanctions", default="", help="comma-separated: " + ",".join(s.value for s in Sanction))
    rc.add_argument("--accident", action="store_true", help="declared as an occupational accident")
    rc.add_argument(
        "--aftercare", default="", help="after-care offered: " + ",".join(a.value for a in Aftercare)
    )
    rc.add_argument("--note", default="", help="a note (optional)")


def new_registration_id(now: datetime) -> str:
    """A fresh registration id: reg-<day>-<random> (lowercase, like every id)."""
    return f"reg-{now:%Y%m%d}-{secrets.token_hex(4)}"


def build(args: argparse.Namespace, timezone: str) -> RegistrationFileCmd | RegistrationCompleteCmd:
    """The command the arguments ask for (ValueError / ValidationError when they are wrong)."""
    now = utcnow()
    base: dict[str, Any] = {"cmd_id": new_id(), "person_id": args.person, "issued_at": now}
    if args.register_command == "file":
        return RegistrationFileCmd(
            registration_id=args.registration_id or new_registration_id(now),
            incident_id=args.incident,
            place_kind=args.place,
            room_id=args.room,
            occurred_at=planned_end(args.at, ZoneInfo(timezone), now) if args.at else None,
            what_happened=args.what,
            aggression_types=_csv(AggressionType)(args.form),
            how_are_you=args.how,
            **{name: bool(getattr(args, name)) for name, _ in SPECIAL},
            **base,
        )
    return RegistrationCompleteCmd(
        registration_id=args.registration,
        severity=Severity(args.severity),
        police_called=bool(args.police or args.pv),
        pv_number=args.pv,
        sanctions=_csv(Sanction)(args.sanctions),
        occupational_accident=bool(args.accident),
        aftercare=_csv(Aftercare)(args.aftercare),
        note=args.note,
        **base,
    )


def register_command(args: argparse.Namespace) -> int:
    return run_person_command(
        args,
        build,
        lambda cmd, _reply: cmd.registration_id,
        lambda cmd: f"(--registration-id {cmd.registration_id})",
    )
