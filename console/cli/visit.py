"""`alarm-console visit start | end | answer`: home visits (huisbezoek) over MQTT, with the person's
own credentials like `alarm-console ack` (docs/VISITS.md).

    alarm-console visit start --as hanne --address "Kerkstraat 12, Heusden" --until 16:30 \\
        --mobile "0470 12 34 56" [--client "J. Peeters"] [--colleague ilse] [--team sociale-dienst]
    alarm-console visit end VISIT --as hanne                 # back: check in
    alarm-console visit answer VISIT --as ilse --reached     # 'bereikt, alles ok'
    alarm-console visit answer VISIT --as ilse --no-answer   # 'geen antwoord': the police instruction
"""

from __future__ import annotations

import argparse
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from stilalarm.console.cli.sendcmd import run_person_command
from stilalarm.wire.messages import VisitAnswerCmd, VisitEndCmd, VisitStartCmd, new_id, utcnow


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    person_args: Callable[[argparse.ArgumentParser], None],
) -> None:
    """The `visit` command and its actions."""
    v = sub.add_parser("visit", help="home visits (huisbezoek): register before leaving, check in after")
    vsub = v.add_subparsers(dest="visit_command", required=True, metavar="ACTION")
    vs = vsub.add_parser("start", help="before leaving: where, until when, your mobile (prints the visit id)")
    person_args(vs)
    vs.add_argument("--address", required=True, help="where the visit is")
    vs.add_argument("--client", default="", help="who is visited (optional; shown only if it escalates)")
    vs.add_argument(
        "--until",
        required=True,
        help="planned end: HH:MM today (site-local time) or an ISO 8601 time with its offset",
    )
    vs.add_argument("--mobile", required=True, help="your mobile number, for the colleague to call")
    vs.add_argument(
        "--colleague", help="who calls you if it runs long (default: your team's lead; needed after hours)"
    )
    vs.add_argument("--team", help="the visit's team (default: yours in the inventory)")
    vs.add_argument("--visit-id", help="the visit's id (default: a new one; give the same one to retry)")
    ve = vsub.add_parser("end", help="back from the visit: check in (the visitor, colleague or team lead)")
    ve.add_argument("visit", help="the visit id `visit start` printed")
    person_args(ve)
    va = vsub.add_parser("answer", help="the colleague's answer after calling the visitor")
    va.add_argument("visit", help="visit id")
    person_args(va)
    how = va.add_mutually_exclusive_group(required=True)
    how.add_argument("--reached", action="store_true", help="'bereikt, alles ok': closes it")
    how.add_argument("--no-answer", action="store_true", help="'geen antwoord': the lead is told to call 101")


def planned_end(text: str, tz: ZoneInfo, now: datetime) -> datetime:
    """`--until`: HH:MM today in the site's time zone, or an ISO 8601 time with an offset."""
    if len(text) == 5 and text[2] == ":":
        h, m = int(text[:2]), int(text[3:])
        local = now.astimezone(tz)
        return datetime.combine(local.date(), datetime.min.time(), tz).replace(hour=h, minute=m)
    at = datetime.fromisoformat(text)
    if at.tzinfo is None:
        raise ValueError("give the time's offset (e.g. 2026-11-25T16:30+01:00), or HH:MM for today")
    return at


def new_visit_id(now: datetime) -> str:
    """A fresh visit id: v-<day>-<random> (lowercase, like every id)."""
    return f"v-{now:%Y%m%d}-{secrets.token_hex(4)}"


def build(args: argparse.Namespace, timezone: str) -> VisitStartCmd | VisitEndCmd | VisitAnswerCmd:
    """The command the arguments ask for (ValueError / ValidationError when they are wrong)."""
    now = utcnow()
    base: dict[str, Any] = {"cmd_id": new_id(), "person_id": args.person, "issued_at": now}
    match args.visit_command:
        case "start":
            end = planned_end(args.until, ZoneInfo(timezone), now)  # already past: the console says so
            return VisitStartCmd(
                visit_id=args.visit_id or new_visit_id(now),
                client_name=args.client,
                address=args.address,
                planned_end=end,
                colleague=args.colleague,
                team=args.team,
                mobile=args.mobile,
                **base,
            )
        case "end":
            return VisitEndCmd(visit_id=args.visit, **base)
        case _:
            return VisitAnswerCmd(visit_id=args.visit, reached=bool(args.reached), **base)


def visit_command(args: argparse.Namespace) -> int:
    return run_person_command(
        args,
        build,
        lambda cmd, reply: (reply.visit_id if reply else None) or cmd.visit_id,
        lambda cmd: f"(with --visit-id {cmd.visit_id} for a start)",
    )
