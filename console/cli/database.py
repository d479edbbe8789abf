"""`alarm-console db init | db check | db to-cluster | backup`: create, check, move to a cluster and
copy the console database."""

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


def db_to_cluster(args: argparse.Namespace) -> int:
    """Move a single console's database into the cluster's empty log (stilalarm.console.ha.seed)."""
    import os

    from stilalarm.console.cli.serve import pid_path
    from stilalarm.console.ha.jetstream import ClusterLog, ClusterLogCredentials, LogUnavailable
    from stilalarm.console.ha.seed import SeedRefused, seed
    from stilalarm.console.store import StoreError
    from stilalarm.wire.credentials import ConfigError, load_json_model

    try:  # the single console must be stopped: what it writes after the copy would be lost
        pid = int(pid_path(args.db).read_text(encoding="utf-8").strip())
        os.kill(pid, 0)
        print(
            f"{args.db}: `alarm-console serve` (pid {pid}) still runs on it; stop it first "
            "(systemctl stop stilalarm-console)",
            file=sys.stderr,
        )
        return 1
    except (OSError, ValueError):
        pass
    try:
        creds = load_json_model(ClusterLogCredentials, args.broker_dir / "console-log.json")
    except ConfigError as exc:
        print(f"{exc}\n(`alarm-broker render --profile cluster` writes it)", file=sys.stderr)
        return 2
    clog = ClusterLog(creds)
    try:
        clog.start(wait_s=30)
        facts, first = seed(clog, args.db)
    except StoreError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_DB
    except SeedRefused as exc:
        print(f"{args.db}: not moved: {exc}", file=sys.stderr)
        return 1
    except LogUnavailable as exc:
        print(f"{args.db}: not moved, the cluster did not confirm ({exc}); run it again", file=sys.stderr)
        return 1
    finally:
        clog.close()
    print(
        f"{args.db}: {facts} facts are now the cluster's first state (its log starts at record {first}). "
        "Start every `alarm-console serve --ha NAME` on a NEW database (--db); keep this file as a backup"
    )
    return 0


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
