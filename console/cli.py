"""`alarm-console`: run the console service, inspect its store, send lead commands."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from wire.messages import (
    TEST_WINDOW_DEFAULT_MIN,
    TEST_WINDOW_MAX_MIN,
    AckCmd,
    Aftercare,
    AftercareDoneCmd,
    AggressionType,
    CommandReply,
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
    from inventory.derived import PersonConfig

DEFAULT_DB = Path("run/console.db")
DEFAULT_BROKER_DIR = Path("run/broker")
EXIT_DB = 3
"""`serve`, `db init`, `backup`: the database is missing, empty or cannot be read (message on stderr)."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="alarm-console", description="stilalarm console: the alarm service and its command line."
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("serve", help="run the console service (ingest, escalation, supervision)")
    s.add_argument("--site", required=True, type=Path, help="site inventory (site.toml)")
    s.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"SQLite database (default {DEFAULT_DB})")
    s.add_argument(
        "--broker-dir",
        type=Path,
        default=DEFAULT_BROKER_DIR,
        help=f"output of `alarm-broker render`; console.json is read from it (default {DEFAULT_BROKER_DIR})",
    )
    s.add_argument("--batch-max", type=int, default=2000, help="messages per group commit (default 2000)")
    s.add_argument(
        "--init",
        action="store_true",
        help="first run only: create the database if it is missing or empty (without it, serve refuses "
        "to start an empty event log; an existing log is never touched)",
    )
    s.add_argument("-v", "--verbose", action="store_true", help="debug logging")

    i = sub.add_parser("incidents", help="list incidents from the console database")
    i.add_argument("--open", action="store_true", help="only open and acknowledged incidents")
    i.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    i.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"SQLite database (default {DEFAULT_DB})")

    u = sub.add_parser("units", help="list units and their health from the console database")
    u.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    u.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"SQLite database (default {DEFAULT_DB})")

    def person_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--as", dest="person", required=True, help="your person id (uses your broker credentials)"
        )
        sp.add_argument(
            "--broker-dir",
            type=Path,
            default=DEFAULT_BROKER_DIR,
            help=f"output of `alarm-broker render` (people/<id>.json) (default {DEFAULT_BROKER_DIR})",
        )
        sp.add_argument(
            "--timeout", type=float, default=5.0, help="seconds to wait for the reply (default 5)"
        )

    a = sub.add_parser("ack", help="acknowledge an incident ('ik kom')")
    a.add_argument("incident", help="incident id, e.g. 20261128-0007")
    person_args(a)

    r = sub.add_parser("resolve", help="resolve an incident with its registration")
    r.add_argument("incident", help="incident id")
    person_args(r)
    r.add_argument(
        "--type",
        dest="types",
        action="append",
        default=[],
        choices=[t.value for t in AggressionType],
        help="type of aggression (repeatable)",
    )
    r.add_argument("--severity", choices=[s.value for s in Severity], help="severity")
    r.add_argument("--police", action="store_true", help="the police were called")
    r.add_argument("--pv", help="proces-verbaal number (implies --police)")
    r.add_argument("--weapon", action="store_true", help="a weapon was involved")
    r.add_argument(
        "--sanction", action="append", default=[], choices=[x.value for x in Sanction], help="repeatable"
    )
    r.add_argument(
        "--aftercare", action="append", default=[], choices=[x.value for x in Aftercare], help="repeatable"
    )
    r.add_argument("--occupational-accident", action="store_true", help="declared as arbeidsongeval")
    r.add_argument("--staff-member", help="staff member involved (optional)")
    r.add_argument("--false-alarm", action="store_true", help="pressed by mistake / no incident")
    r.add_argument("--note", required=True, help="what happened (free text)")

    pr = sub.add_parser("presence", help="mark yourself present or absent")
    pr.add_argument("state", choices=["present", "absent"])
    person_args(pr)

    t = sub.add_parser("test", help="button tests (facilities): one short window per unit or room")
    tsub = t.add_subparsers(dest="test_command", required=True, metavar="ACTION")
    ts = tsub.add_parser(
        "start", help="open the test window of one unit or one room where you stand (--all: list what is due)"
    )
    person_args(ts)
    scope = ts.add_mutually_exclusive_group(required=True)
    scope.add_argument("--unit", help="one unit")
    scope.add_argument("--room", help="every unit in one room")
    scope.add_argument(
        "--all",
        action="store_true",
        help="open NO window: list the units due for the weekly test, to open one by one",
    )
    ts.add_argument(
        "--minutes",
        type=float,
        default=TEST_WINDOW_DEFAULT_MIN,
        help=f"the window closes after this long (default {TEST_WINDOW_DEFAULT_MIN}, at most "
        f"{TEST_WINDOW_MAX_MIN}); the first press of each button in it is a test, any other a real alarm",
    )
    tp = tsub.add_parser("stop", help="close your newest (or the given) test window")
    person_args(tp)
    tp.add_argument("--campaign", help="campaign id (default: the newest running one)")

    ad = sub.add_parser("aftercare", help="after-care (nazorg) of resolved incidents")
    adsub = ad.add_subparsers(dest="aftercare_command", required=True, metavar="ACTION")
    add = adsub.add_parser("done", help="record that after-care was given (stops the reminders)")
    add.add_argument("incident", help="incident id")
    person_args(add)
    add.add_argument("--note", default="", help="what was done (optional)")

    def db_site_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"SQLite database (default {DEFAULT_DB})")
        sp.add_argument("--site", required=True, type=Path, help="site inventory (site.toml)")

    ex = sub.add_parser("export", help="registration export of incidents (CSV or JSON, UTF-8)")
    ex.add_argument("--since", required=True, help="first day, YYYY-MM-DD (site-local)")
    ex.add_argument("--until", help="last day included, YYYY-MM-DD (default: today)")
    ex.add_argument("--format", choices=["csv", "json"], default="csv", help="default csv")
    ex.add_argument("--lang", choices=["nl", "en"], default="nl", help="CSV header language (default nl)")
    ex.add_argument("--out", type=Path, help="write to this file instead of stdout")
    db_site_args(ex)

    tr = sub.add_parser("tests", help="weekly button test reports")
    trsub = tr.add_subparsers(dest="tests_command", required=True, metavar="ACTION")
    trr = trsub.add_parser("report", help="every button's test result in an ISO week")
    trr.add_argument("--week", help="YYYY-Www (default: the current week, site-local)")
    trr.add_argument("--format", choices=["text", "csv", "json"], default="text", help="default text")
    trr.add_argument("--lang", choices=["nl", "en", "fr"], help="default: the site's language")
    trr.add_argument("--out", type=Path, help="write to this file instead of stdout")
    db_site_args(trr)

    mr = sub.add_parser("report", help="monthly report (incidents, response times, units, tests)")
    mr.add_argument("--month", help="YYYY-MM (default: the previous month, site-local)")
    mr.add_argument("--format", choices=["text", "html", "json"], default="text", help="default text")
    mr.add_argument("--lang", choices=["nl", "en", "fr"], help="default: the site's language")
    mr.add_argument("--out", type=Path, help="write to this file instead of stdout")
    db_site_args(mr)

    pg = sub.add_parser("purge", help="delete what is older than the site's [retention] periods")
    pg.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    db_site_args(pg)

    bk = sub.add_parser(
        "backup", help="copy the (live) database with SQLite's online backup; safe while serve runs"
    )
    bk.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"SQLite database (default {DEFAULT_DB})")
    where = bk.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="write the backup to this file (replaced atomically)")
    where.add_argument(
        "--dir", type=Path, help="write console-YYYYMMDDTHHMMSSZ.db into this directory (created 0700)"
    )
    bk.add_argument(
        "--keep", type=int, default=0, help="with --dir: keep only the newest N backups there (default: all)"
    )

    dbp = sub.add_parser("db", help="the console database: create it once, check it")
    dbsub = dbp.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    dbi = dbsub.add_parser("init", help="create an empty console database (new installation; 0600)")
    dbi.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"SQLite database (default {DEFAULT_DB})")
    dbc = dbsub.add_parser(
        "check", help="integrity check and every fact row parses (exit 0 ok, 1 damaged, 2 missing)"
    )
    dbc.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"SQLite database (default {DEFAULT_DB})")

    sub.add_parser(
        "tui", help="the interactive console (Textual); `alarm-console tui --help`", add_help=False
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # `alarm-console incidents | head`: the reader is gone, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _main(argv: Sequence[str] | None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "tui":
        return _tui(args_list[1:])
    args = _parser().parse_args(args_list)
    match args.command:
        case "serve":
            return _serve(args)
        case "incidents":
            return _incidents(args)
        case "units":
            return _units(args)
        case "ack" | "resolve" | "presence" | "test" | "aftercare":
            return _person_command(args)
        case "export" | "tests" | "report" | "purge":
            from console import reportcli

            return reportcli.run(args)
        case "backup":
            return _backup(args)
        case "db":
            return _db_init(args) if args.db_command == "init" else _db_check(args)
    return 2


def _tui(argv: list[str]) -> int:
    try:
        from console import tui  # the colleague's package; imported only when asked for
    except ImportError as exc:
        print(f"the console TUI is not installed in this build ({exc})", file=sys.stderr)
        return 2
    run = getattr(tui, "main", None)
    if run is None:
        print("the console TUI is not installed in this build (console.tui.main missing)", file=sys.stderr)
        return 2
    return int(run(argv))


# --------------------------------------------------------------------------- serve


def _serve(args: argparse.Namespace) -> int:
    from console.config import ServiceConfig
    from console.shell.service import ConsoleService
    from console.store import StoreError
    from inventory.load import InventoryError, load_site
    from wire.credentials import BrokerCredentials, ConfigError, load_json_model

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        site = load_site(args.site)
    except InventoryError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    creds_path = args.broker_dir / "console.json"
    if not creds_path.exists():
        print(
            f"{creds_path}: missing; run `alarm-broker render --site {args.site} --out {args.broker_dir}` "
            "or give --broker-dir",
            file=sys.stderr,
        )
        return 2
    try:
        creds = load_json_model(BrokerCredentials, creds_path)
    except ConfigError as exc:
        raise SystemExit(str(exc)) from None  # the message alone, exit status 1
    cfg = ServiceConfig(
        site_path=args.site, db_path=args.db, broker_dir=args.broker_dir, batch_max=args.batch_max
    )
    # The writer thread is CPU-bound under load; a short GIL switch interval lets paho's network
    # thread read, PUBACK and send in between, which keeps the broker's in-flight window full.
    sys.setswitchinterval(0.0005)
    log = logging.getLogger("console")
    try:
        svc = ConsoleService(cfg, site, creds, init=args.init)
    except StoreError as exc:
        log.critical("not starting: %s", exc)
        return EXIT_DB
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("console").info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        svc.start()
    except StoreError as exc:
        log.critical("not starting: %s", exc)
        svc.store.close()
        return EXIT_DB
    failed = False
    while not stop.wait(0.5):
        if svc.wait(0):  # the writer ended on its own: a fatal error
            failed = True
            break
    svc.stop()
    return 1 if failed else 0


# --------------------------------------------------------------------------- store views


def _open_store(db: Path) -> Any:
    from console.store import Store, StoreError

    try:
        return Store(db, readonly=True)
    except StoreError as exc:
        raise SystemExit(str(exc)) from None


# --------------------------------------------------------------------------- database care


def _db_init(args: argparse.Namespace) -> int:
    from console.store import Store, StoreError, file_state

    existed = file_state(args.db) == "present"
    try:
        store = Store(args.db, init=True)
    except StoreError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_DB
    n = store.fact_count()
    store.close()
    if existed:
        print(f"{args.db}: already a console database ({n} facts); left as it is")
    else:
        print(f"{args.db}: created an empty console database (mode 0600)")
    return 0


def _db_check(args: argparse.Namespace) -> int:
    from console.store import StoreMissing, check

    try:
        rep = check(args.db)
    except StoreMissing as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if rep.ok:
        print(
            f"{args.db}: ok (schema {rep.schema_version}, {rep.facts} facts, {rep.incidents} incidents, "
            "integrity ok, every fact readable)"
        )
        return 0
    print(f"{args.db}: DAMAGED, {len(rep.problems)} problem(s):", file=sys.stderr)
    for line in rep.problems:
        print(f"  {line}", file=sys.stderr)
    print(
        "Restore the newest backup with the service stopped (see hardware/installation.md), "
        "then run this check on it.",
        file=sys.stderr,
    )
    return 1


def _backup(args: argparse.Namespace) -> int:
    from console.store import StoreError, StoreMissing, backup

    if args.out is not None:
        dest = args.out
    else:
        dest = args.dir / f"console-{utcnow().strftime('%Y%m%dT%H%M%SZ')}.db"
    try:
        res = backup(args.db, dest)
    except StoreMissing as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except StoreError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_DB
    print(f"backup {res.path}: {res.facts} facts, {res.incidents} incidents, {res.size} bytes, checked")
    if args.dir is not None and args.keep > 0:
        old = sorted(args.dir.glob("console-*Z.db"))[: -args.keep]
        for f in old:
            f.unlink()
        if old:
            print(f"removed {len(old)} older backup(s) (--keep {args.keep})")
    return 0


def _incidents(args: argparse.Namespace) -> int:
    store = _open_store(args.db)
    rows = store.incidents(open_only=args.open)
    if args.json:
        for r in rows:
            r = dict(r)
            r["registration"] = json.loads(r["registration"]) if r["registration"] else None
            r["state"] = json.loads(r["state"])
            print(json.dumps(r, ensure_ascii=False))
        return 0
    if not rows:
        print("no incidents" + (" open" if args.open else ""))
        return 0
    print(f"{'incident':<15} {'status':<13} {'lvl':>3} {'presses':>7}  {'room':<16} {'stored (UTC)':<20} by")
    for r in rows:
        by = r["resolved_by"] or r["acknowledged_by"] or ""
        print(
            f"{r['incident_id']:<15} {r['status']:<13} {r['level']:>3} {r['presses']:>7}  "
            f"{r['room_id']:<16} {r['stored_at'][:19]:<20} {by}"
        )
    return 0


def _units(args: argparse.Namespace) -> int:
    store = _open_store(args.db)
    rows = store.units()
    if args.json:
        for r in rows:
            r = dict(r)
            r["faults"] = json.loads(r["faults"])
            r["health"] = json.loads(r["health"])
            print(json.dumps(r, ensure_ascii=False))
        return 0
    if not rows:
        print("no units recorded yet")
        return 0
    print(f"{'unit':<16} {'state':<8} {'since (UTC)':<20} faults")
    for r in rows:
        state = {None: "unknown", 0: "offline", 1: "online"}.get(r["online"], "?")
        faults = ", ".join(json.loads(r["faults"])) or "-"
        print(f"{r['unit_id']:<16} {state:<8} {(r['since'] or '')[:19]:<20} {faults}")
    return 0


# --------------------------------------------------------------------------- person commands


def _person_command(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from console.remote import load_person, send
    from wire.credentials import ConfigError

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
    cmd: AckCmd | ResolveCmd | PresenceCmd | TestStartCmd | TestStopCmd | AftercareDoneCmd
    try:
        match args.command:
            case "ack":
                cmd = AckCmd(incident_id=args.incident, **base)
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
    from console.i18n import fmt_date, t
    from console.remote import unit_states
    from console.reporting.buttontests import TestState, test_state

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
