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


def unit_matches(health: dict[str, Any], firmware: str | None, not_firmware: str | None, stale: bool) -> bool:
    """Whether a unit's health (UnitHealth as JSON) passes `units`' filters."""
    fw = health.get("firmware_version") or ""
    if firmware is not None and fw != firmware:
        return False
    if not_firmware is not None and fw == not_firmware:
        return False
    return not stale or health.get("config_current") is False


def units(args: argparse.Namespace) -> int:
    store = _open_store(args.db)
    rows = []
    for r in store.units():
        health = json.loads(r["health"]) if r["health"] else {}
        if unit_matches(health, args.firmware, args.not_firmware, args.config_stale):
            rows.append((r, health))
    if args.json:
        for r, health in rows:
            d = dict(r)
            d["faults"] = json.loads(d["faults"])
            d["health"] = health
            print(json.dumps(d, ensure_ascii=False))
        return 0
    if not rows:
        print("no units recorded yet" if not _filtered(args) else "no unit matches")
        return 0
    print(f"{'unit':<16} {'state':<8} {'since (UTC)':<20} {'firmware':<10} {'config':<28} {'os':<24} faults")
    for r, health in rows:
        state = {None: "unknown", 0: "offline", 1: "online"}.get(r["online"], "?")
        faults = ", ".join(json.loads(r["faults"])) or "-"
        cfg = health.get("config_version") or "-"
        cfg += {True: "", False: " (stale)", None: ""}.get(health.get("config_current"), "")
        os_name = health.get("os_name") or "-"
        print(
            f"{r['unit_id']:<16} {state:<8} {(r['since'] or '')[:19]:<20} "
            f"{health.get('firmware_version') or '-':<10} {cfg:<28} {os_name[:24]:<24} {faults}"
        )
    return 0


def _filtered(args: argparse.Namespace) -> bool:
    return bool(args.firmware or args.not_firmware or args.config_stale)
