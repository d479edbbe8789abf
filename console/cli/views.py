"""`alarm-console incidents | units`: tables (or JSON lines) read from the console database."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _open_store(db: Path) -> Any:
    from stilalarm.console.store import Store, StoreError

    try:
        return Store(db, readonly=True)
    except StoreError as exc:
        raise SystemExit(str(exc)) from None


def incidents(args: argparse.Namespace) -> int:
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


def units(args: argparse.Namespace) -> int:
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
