"""`alarm-console ack | decline | onsite | resolve | presence | test | aftercare`: a lead's commands
over MQTT."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from stilalarm.wire.messages import (
    TEST_WINDOW_DEFAULT_MIN,
    TEST_WINDOW_MAX_MIN,
    AckCmd,
    Aftercare,
    AftercareDoneCmd,
    AggressionType,
    CommandReply,
    DeclineCmd,
    OnSiteCmd,
    PresenceCmd,
    Registration,
    ResolveCmd,
    Sanction,
    Severity,
    TestScope,
    TestStartCmd,
    TestStopCmd,
    new_id,
    utcnow,
)

if TYPE_CHECKING:
    from stilalarm.inventory.derived import PersonConfig


def person_command(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from stilalarm.console.remote import load_person, send
    from stilalarm.wire.credentials import ConfigError

    try:
        cfg = load_person(args.broker_dir, args.person)
    except ConfigError as exc:
        raise SystemExit(str(exc)) from None  # the message alone, exit status 1
    if args.command == "test" and args.test_command == "start":
        if args.all:
            return _list_due(cfg, args)
        if not 0 < args.minutes <= TEST_WINDOW_MAX_MIN:
            print(
                f"--minutes must be more than 0 and at most {TEST_WINDOW_MAX_MIN}: a test window is opened "
                "where you stand and closes soon, so a real alarm is never taken for a test",
                file=sys.stderr,
            )
            return 2
    base: dict[str, Any] = {"cmd_id": new_id(), "person_id": args.person, "issued_at": utcnow()}
    cmd: (
        AckCmd
        | DeclineCmd
        | OnSiteCmd
        | ResolveCmd
        | PresenceCmd
        | TestStartCmd
        | TestStopCmd
        | AftercareDoneCmd
    )
    try:
        match args.command:
            case "ack":
                cmd = AckCmd(incident_id=args.incident, **base)
            case "decline":
                cmd = DeclineCmd(incident_id=args.incident, **base)
            case "onsite":
                cmd = OnSiteCmd(incident_id=args.incident, **base)
            case "aftercare":
                cmd = AftercareDoneCmd(incident_id=args.incident, note=args.note, **base)
            case "resolve":
                reg = Registration(
                    false_alarm=args.false_alarm,
                    aggression_types=tuple(AggressionType(t) for t in args.types),
                    severity=Severity(args.severity) if args.severity else None,
                    weapon=args.weapon,
                    police_called=args.police or bool(args.pv),
                    pv_number=args.pv,
                    sanctions=tuple(Sanction(x) for x in args.sanction),
                    aftercare=tuple(Aftercare(x) for x in args.aftercare),
                    occupational_accident=args.occupational_accident,
                    staff_member=args.staff_member,
                    note=args.note,
                )
                cmd = ResolveCmd(incident_id=args.incident, registration=reg, **base)
            case "presence":
                cmd = PresenceCmd(present=args.state == "present", **base)
            case _ if args.test_command == "start":
                if args.unit:
                    scope, target = TestScope.UNIT, args.unit
                else:
                    scope, target = TestScope.ROOM, args.room
                cmd = TestStartCmd(scope=scope, target=target, minutes=args.minutes, **base)
            case _:
                cmd = TestStopCmd(campaign_id=args.campaign, **base)
    except ValidationError as exc:
        msgs = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        print(f"invalid command: {msgs}", file=sys.stderr)
        return 2
    reply = send(cfg, cmd, args.timeout)
    if reply is None:
        print(
            f"no reply from the console within {args.timeout:g} s: is `alarm-console serve` running "
            "and the broker reachable?",
            file=sys.stderr,
        )
        return 3
    _print_reply(reply)
    return 0 if reply.ok else 1


def _list_due(cfg: PersonConfig, args: argparse.Namespace) -> int:
    """`test start --all`: list the units due for the weekly test; opens no window at all."""
    from stilalarm.console.i18n import fmt_date, t
    from stilalarm.console.remote import unit_states
    from stilalarm.console.reporting.buttontests import TestState, test_state

    lang = cfg.language
    states = unit_states(cfg, args.timeout)
    if not states:
        print(t("campaign_unreachable", lang, seconds=f"{args.timeout:g}"), file=sys.stderr)
        return 3
    now = utcnow()
    due = [(h, test_state(h.last_test_ok, now)) for h in states]
    due = [(h, st) for h, st in due if st is not TestState.OK]
    print(t("campaign_head", lang, due=len(due), units=len(states)))
    for h, st in due:
        when = h.last_test_ok
        detail = (
            t("campaign_last", lang, date=fmt_date(when.date(), None, lang))
            if when
            else t("campaign_never", lang)
        )
        if not h.online:
            detail += t("campaign_offline", lang)
        print(
            t(
                "campaign_line",
                lang,
                unit=h.unit_id,
                state=t(f"campaign_state_{st.value}", lang),
                detail=detail,
            )
        )
    if not due:
        print(t("campaign_none", lang))
    how = t(
        "campaign_how", lang, person=cfg.person_id, minutes=TEST_WINDOW_DEFAULT_MIN, max=TEST_WINDOW_MAX_MIN
    )
    print(how)
    return 0


def _print_reply(reply: CommandReply) -> None:
    what = reply.incident_id or reply.campaign_id or ""
    if reply.ok:
        print(f"ok {what} {reply.reason}".replace("  ", " ").strip())
    else:
        print(f"rejected ({reply.code}) {what}: {reply.reason}", file=sys.stderr)
