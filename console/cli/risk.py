"""`alarm-console risk announce | confirm | cancel`: risky conversations (risicogesprek) over MQTT,
with the person's own credentials like `alarm-console ack` (docs/RISKY.md).

    alarm-console risk announce --as hanne --room spreekkamer-1 --from 14:00 --until 15:00 \\
        --standby ilse [--colleagues-present] [--risk-id ID]
    alarm-console risk confirm RISK --as ilse     # the stand-by colleague (or a lead of the room)
    alarm-console risk cancel RISK --as hanne     # the announcer, the stand-by colleague, or a lead
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
from stilalarm.wire.messages import RiskAnnounceCmd, RiskCancelCmd, RiskConfirmCmd, new_id, utcnow


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    person_args: Callable[[argparse.ArgumentParser], None],
) -> None:
    """The `risk` command and its actions."""
    r = sub.add_parser("risk", help="risky conversations (risicogesprek): announce, confirm, cancel")
    rsub = r.add_subparsers(dest="risk_command", required=True, metavar="ACTION")
    ra = rsub.add_parser("announce", help="before the conversation: room, window, stand-by colleague")
    person_args(ra)
    ra.add_argument("--room", required=True, help="the room the conversation is held in")
    when = "HH:MM today (site-local time) or an ISO 8601 time with its offset"
    ra.add_argument("--from", dest="start", required=True, help=f"start: {when}")
    ra.add_argument("--until", required=True, help=f"end at the latest: {when}")
    ra.add_argument("--standby", required=True, help="the colleague following it from the hall or next room")
    ra.add_argument(
        "--colleagues-present",
        action="store_true",
        help="other colleagues are in the building (outside office hours: no warning)",
    )
    ra.add_argument("--risk-id", help="its id (default: a new one; give the same one to retry)")
    for action, text in (
        ("confirm", "the stand-by colleague (or a lead or deputy of the room) confirms"),
        ("cancel", "cancel or end early (the announcer, the stand-by colleague, or a lead or deputy)"),
    ):
        sp = rsub.add_parser(action, help=text)
        sp.add_argument("risk", help="the id `risk announce` printed")
        person_args(sp)


def new_risk_id(now: datetime) -> str:
    """A fresh risky-conversation id: r-<day>-<random> (lowercase, like every id)."""
    return f"r-{now:%Y%m%d}-{secrets.token_hex(4)}"


def build(args: argparse.Namespace, timezone: str) -> RiskAnnounceCmd | RiskConfirmCmd | RiskCancelCmd:
    """The command the arguments ask for (ValueError / ValidationError when they are wrong)."""
    now = utcnow()
    base: dict[str, Any] = {"cmd_id": new_id(), "person_id": args.person, "issued_at": now}
    match args.risk_command:
        case "announce":
            tz = ZoneInfo(timezone)
            return RiskAnnounceCmd(
                risk_id=args.risk_id or new_risk_id(now),
                room=args.room,
                starts_at=planned_end(args.start, tz, now),
                ends_at=planned_end(args.until, tz, now),
                standby=args.standby,
                colleagues_present=bool(args.colleagues_present),
                **base,
            )
        case "confirm":
            return RiskConfirmCmd(risk_id=args.risk, **base)
        case _:
            return RiskCancelCmd(risk_id=args.risk, **base)


def risk_command(args: argparse.Namespace) -> int:
    return run_person_command(
        args,
        build,
        lambda cmd, _reply: cmd.risk_id,
        lambda cmd: f"(with --risk-id {cmd.risk_id} for an announcement)",
    )
