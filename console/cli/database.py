"""`alarm-console db init | db check | backup`: create, check and copy the console database."""

from __future__ import annotations

import argparse
import sys

from stilalarm.console.cli.parser import EXIT_DB
from stilalarm.wire.messages import utcnow


def db_init(args: argparse.Namespace) -> int:
    from stilalarm.console.store import Store, StoreError, file_state

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


def db_check(args: argparse.Namespace) -> int:
    from stilalarm.console.store import StoreMissing, check

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


def backup(args: argparse.Namespace) -> int:
    from stilalarm.console.store import StoreError, StoreMissing, backup

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
