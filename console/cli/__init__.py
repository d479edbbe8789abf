"""`alarm-console`: run the console service, inspect its store, send lead commands.

The command line is this package: `parser` (every command and flag), `serve` (also the
fan-out process it supervises, `alarm-console fanout`), `views`
(incidents, units), `database` (db init/check, backup), `person` (a lead's commands over MQTT),
`visit` (home visits over MQTT), `risk` (risky conversations over MQTT) and `reports` (exports,
reports, purge). `alarm-console tui` hands over to `stilalarm.console.tui`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from stilalarm.console.cli import database, person, serve, views
from stilalarm.console.cli.parser import build_parser


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
    args = build_parser().parse_args(args_list)
    match args.command:
        case "serve":
            return serve.serve(args)
        case "fanout":
            return serve.fanout(args)
        case "incidents":
            return views.incidents(args)
        case "units":
            return views.units(args)
        case "reload":
            return serve.reload(args)
        case "ack" | "decline" | "onsite" | "resolve" | "presence" | "test" | "aftercare":
            return person.person_command(args)
        case "visit":
            from stilalarm.console.cli import visit

            return visit.visit_command(args)
        case "register":
            from stilalarm.console.cli import register

            return register.register_command(args)
        case "risk":
            from stilalarm.console.cli import risk

            return risk.risk_command(args)
        case "export" | "tests" | "report" | "purge":
            from stilalarm.console.cli import reports

            return reports.run(args)
        case "enroll":
            from stilalarm.console.cli import enroll

            return enroll.enroll_command(args)
        case "backup":
            return database.backup(args)
        case "db":
            if args.db_command == "to-cluster":
                return database.db_to_cluster(args)
            return database.db_init(args) if args.db_command == "init" else database.db_check(args)
    return 2


def _tui(argv: list[str]) -> int:
    try:
        from stilalarm.console import tui  # the colleague's package; imported only when asked for
    except ImportError as exc:
        print(f"the console TUI is not installed in this build ({exc})", file=sys.stderr)
        return 2
    run = getattr(tui, "main", None)
    if run is None:
        print(
            "the console TUI is not installed in this build (stilalarm.console.tui.main missing)",
            file=sys.stderr,
        )
        return 2
    return int(run(argv))
