"""The `alarm-console` argument parser: every command, its flags and their defaults."""

from __future__ import annotations

import argparse
from pathlib import Path

from stilalarm.console.cli import enroll, register, risk, visit
from stilalarm.wire.messages import (
    TEST_WINDOW_DEFAULT_MIN,
    TEST_WINDOW_MAX_MIN,
    Aftercare,
    AggressionType,
    Sanction,
    Severity,
)

DEFAULT_DB = Path("run/console.db")
DEFAULT_BROKER_DIR = Path("run/broker")
EXIT_DB = 3
"""`serve`, `db init`, `backup`: the database is missing, empty or cannot be read (message on stderr)."""


def build_parser() -> argparse.ArgumentParser:
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
        "--warm-nodes-every",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="on a cluster: connect to every broker node this often, so each is ready for a failover "
        "(default 30; docs/HA.md, Cold nodes)",
    )
    s.add_argument(
        "--node-silent-after",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="on a cluster: tell facilities of a broker node that has not accepted a connect for this "
        "long (default 60)",
    )
    s.add_argument(
        "--init",
        action="store_true",
        help="first run only: create the database if it is missing or empty (without it, serve refuses "
        "to start an empty event log; an existing log is never touched)",
    )
    s.add_argument(
        "--ha",
        metavar="NAME",
        help="run as one of the site's active/standby consoles on the cluster profile, named NAME "
        "(unique per console); reads console-log.json from --broker-dir (docs/HA.md)",
    )
    s.add_argument(
        "--ha-ttl",
        type=float,
        default=3.0,
        metavar="S",
        help="with --ha: the lease's time to live; a standby takes over this long after the active "
        "stopped renewing (default 3)",
    )
    s.add_argument(
        "--ha-retention-every",
        type=float,
        default=86400.0,
        metavar="S",
        help="with --ha: the active console applies the site's [retention] through the log and compacts "
        "the log this often, the first time min(600, S) s after it became active (default 86400: daily)",
    )
    s.add_argument("-v", "--verbose", action="store_true", help="debug logging")

    fo = sub.add_parser(
        "fanout",
        help="the e-mail and Apprise sender; `serve` starts and supervises it (JSON lines on stdin/stdout)",
    )
    fo.add_argument("--site", required=True, type=Path, help="site inventory (site.toml)")
    fo.add_argument(
        "--journal", required=True, type=Path, help="its attempt journal (beside the console database)"
    )
    fo.add_argument("--parent-pid", type=int, default=0, help="exit when this process (serve) is gone")
    fo.add_argument("-v", "--verbose", action="store_true", help="debug logging")

    i = sub.add_parser("incidents", help="list incidents from the console database")
    i.add_argument("--open", action="store_true", help="only open and acknowledged incidents")
    i.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    i.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"SQLite database (default {DEFAULT_DB})")

    u = sub.add_parser("units", help="list units and their health from the console database")
    u.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    u.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"SQLite database (default {DEFAULT_DB})")
    u.add_argument("--firmware", metavar="VERSION", help="only units running this firmware version")
    u.add_argument("--not-firmware", metavar="VERSION", help="only units NOT running this firmware version")
    u.add_argument(
        "--config-stale",
        action="store_true",
        help="only Pi units that did not report the config of the console's current inventory",
    )

    rl = sub.add_parser(
        "reload",
        help="check site.toml and have the running `serve` reload it (SIGHUP): open incidents and their "
        "timers stay, the units get their new configs",
    )
    rl.add_argument("--site", required=True, type=Path, help="site inventory (site.toml) serve runs on")
    rl.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"serve's database (default {DEFAULT_DB})")

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

    d = sub.add_parser(
        "decline", help="say you cannot come ('kan niet komen') for an incident you were notified for"
    )
    d.add_argument("incident", help="incident id, e.g. 20261128-0007")
    person_args(d)

    o = sub.add_parser("onsite", help="report 'ter plaatse' for the incident you acknowledged")
    o.add_argument("incident", help="incident id, e.g. 20261128-0007")
    person_args(o)

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

    visit.add_parser(sub, person_args)
    register.add_parser(sub, person_args)
    risk.add_parser(sub, person_args)
    enroll.add_parser(sub, DEFAULT_BROKER_DIR)

    def db_site_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"SQLite database (default {DEFAULT_DB})")
        sp.add_argument("--site", required=True, type=Path, help="site inventory (site.toml)")

    ex = sub.add_parser("export", help="registration export of incidents (CSV or JSON, UTF-8)")
    ex.add_argument("--since", required=True, help="first day, YYYY-MM-DD (site-local)")
    ex.add_argument("--until", help="last day included, YYYY-MM-DD (default: today)")
    ex.add_argument("--format", choices=["csv", "json"], default="csv", help="default csv")
    ex.add_argument("--lang", choices=["nl", "en"], default="nl", help="CSV header language (default nl)")
    ex.add_argument("--out", type=Path, help="write to this file instead of stdout")
    ex.add_argument(
        "--as",
        dest="as_person",
        metavar="PERSON",
        help="only what this person may read: their own, a lead's teams, Preventie everything",
    )
    ex.add_argument("--mine", action="store_true", help="with --as: only the records the person is in")
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
    pg.add_argument(
        "--unless-cluster",
        action="store_true",
        help="as stilalarm-purge.timer runs it: on a cluster console's database (serve --ha) do nothing "
        "and exit 0, since the active console purges through the log itself (docs/HA.md)",
    )
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
    dtc = dbsub.add_parser(
        "to-cluster",
        help="move a single console's database into a cluster's empty log (once, with that console "
        "stopped); then start every `serve --ha` on a new database (docs/HA.md)",
    )
    dtc.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"SQLite database (default {DEFAULT_DB})")
    dtc.add_argument(
        "--broker-dir",
        type=Path,
        default=DEFAULT_BROKER_DIR,
        help=f"the cluster's `alarm-broker render --profile cluster` output (default {DEFAULT_BROKER_DIR})",
    )

    sub.add_parser(
        "tui", help="the interactive console (Textual); `alarm-console tui --help`", add_help=False
    )
    return p
