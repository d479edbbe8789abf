"""`alarm-console export | tests report | report | purge`: reports and retention from the database.

They read the console database directly (read-only, safe while `serve` runs; `purge` writes in
one transaction) and the site inventory (rooms, teams, time zone, retention). Exit codes: 0 done,
2 bad arguments (a malformed --week, --month or date, a missing database or inventory).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from stilalarm.console import retention
from stilalarm.console.reporting import access, buttontests, export, monthly
from stilalarm.console.reporting import fold as recs
from stilalarm.console.reporting.html import render_html
from stilalarm.inventory.model import Site
from stilalarm.wire.messages import utcnow


class _Usage(Exception):
    """A bad argument: the message is printed, the exit code is 2."""


def run(args: argparse.Namespace) -> int:
    try:
        site = _site(args.site)
        match args.command:
            case "export":
                return _export(args, site)
            case "tests":
                return _tests_report(args, site)
            case "report":
                return _monthly(args, site)
            case "purge":
                return _purge(args, site)
    except _Usage as exc:
        print(f"alarm-console {args.command}: {exc}", file=sys.stderr)
        return 2
    return 2


def _site(path: Path) -> Site:
    from stilalarm.inventory.load import InventoryError, load_site

    try:
        return load_site(path)
    except InventoryError as exc:
        raise _Usage(str(exc)) from None


def _records(db: Path, site: Site) -> recs.Records:
    from stilalarm.console.store import Store, StoreError

    try:
        store = Store(db, readonly=True)
    except (StoreError, FileNotFoundError) as exc:
        raise _Usage(str(exc)) from None
    try:
        return recs.build(site, store.facts())
    except StoreError as exc:  # a row that does not parse: say which, never a traceback
        raise _Usage(str(exc)) from None
    finally:
        store.close()


def _write(text: str, out: Path | None) -> None:
    """UTF-8 to the file, or to stdout (bytes, whatever the locale)."""
    if out is not None:
        out.write_bytes(text.encode("utf-8"))
        print(f"written {out}", file=sys.stderr)
        return
    sys.stdout.flush()
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.buffer.flush()


def _day(s: str, what: str) -> date:
    try:
        return date.fromisoformat(s)
    except ValueError:
        raise _Usage(f"{what} {s!r}: expected YYYY-MM-DD, e.g. 2026-11-01") from None


def _export(args: argparse.Namespace, site: Site) -> int:
    tz = ZoneInfo(site.site.timezone)
    since = _day(args.since, "--since")
    until = _day(args.until, "--until") if args.until else datetime.now(tz).date()
    if until < since:
        raise _Usage(f"--until {until} is before --since {since}")
    start = datetime(since.year, since.month, since.day, tzinfo=tz)
    end = datetime(until.year, until.month, until.day, tzinfo=tz) + timedelta(days=1)
    rows = [r for r in _records(args.db, site).incidents if start <= r.stored_at < end]
    who = getattr(args, "as_person", None)
    if getattr(args, "mine", False) and who is None:
        raise _Usage("--mine needs --as PERSON (whose records)")
    if who is not None:
        if who not in site.index.people:
            raise _Usage(f"--as {who}: not a person of this site")
        rows = access.visible(site, who, rows, mine=bool(args.mine))
    text = export.to_json(rows, tz) if args.format == "json" else export.to_csv(rows, tz, args.lang)
    _write(text, args.out)
    return 0


def current_week(site: Site, now: datetime) -> str:
    """The ISO week (YYYY-Www) `now` falls in, in the site's time zone."""
    iso = now.astimezone(ZoneInfo(site.site.timezone)).isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def previous_month(site: Site, now: datetime) -> str:
    """The month (YYYY-MM) before the one `now` falls in, in the site's time zone."""
    local = now.astimezone(ZoneInfo(site.site.timezone))
    y, m = (local.year - 1, 12) if local.month == 1 else (local.year, local.month - 1)
    return f"{y:04d}-{m:02d}"


def _tests_report(args: argparse.Namespace, site: Site) -> int:
    tz = ZoneInfo(site.site.timezone)
    week = args.week or current_week(site, utcnow())
    try:
        buttontests.iso_week_bounds(week, tz)
        _year, w = week.upper().split("-W")
        if len(w) != 2:
            raise ValueError(week)
    except ValueError:
        raise _Usage(f"--week {week!r}: expected YYYY-Www, e.g. 2026-W48") from None
    week = week.upper()
    lang = args.lang or site.site.language.value
    rep = buttontests.week_report(site, week, _records(args.db, site).tests)
    match args.format:
        case "json":
            text = buttontests.render_json(rep, lang)
        case "csv":
            text = buttontests.render_csv(rep)
        case _:
            text = buttontests.render_text(rep, tz, lang)
    _write(text, args.out)
    return 0


def _monthly(args: argparse.Namespace, site: Site) -> int:
    tz = ZoneInfo(site.site.timezone)
    now = utcnow()
    month = args.month or previous_month(site, now)
    try:
        y, m = month.split("-")
        if len(y) != 4 or len(m) != 2:
            raise ValueError(month)
        monthly.month_bounds(month, tz)
    except ValueError:
        raise _Usage(f"--month {month!r}: expected YYYY-MM, e.g. 2026-11") from None
    lang = args.lang or site.site.language.value
    r = _records(args.db, site)
    figures = monthly.compute(site, month, r.incidents, r.offline, r.tests, now)
    match args.format:
        case "json":
            text = monthly.render_json(figures)
        case "html":
            text = render_html(figures, lang)
        case _:
            text = monthly.render_text(figures, lang) + "\n"
    _write(text, args.out)
    return 0


def _purge(args: argparse.Namespace, site: Site) -> int:
    from stilalarm.console.store import Store, StoreError

    if not Path(args.db).exists():
        raise _Usage(f"{args.db}: no console database; give --db")
    try:
        store = Store(args.db)
    except StoreError as exc:
        raise _Usage(str(exc)) from None
    try:
        if not args.dry_run and store.log_seq() > 0 and args.unless_cluster:
            sys.stdout.write(
                f"{args.db} is a cluster console's copy of the log: the active console purges through the "
                "log itself (serve --ha-retention-every); nothing done here\n"
            )
            return 0
        if not args.dry_run and store.log_seq() > 0:
            raise _Usage(
                f"{args.db} is one console's copy of a cluster's log (serve --ha): purging it alone would "
                "leave the log and the other consoles unpurged. On a cluster the active console purges "
                "by itself, through the log, daily (serve --ha-retention-every; docs/HA.md, Retention); "
                "--dry-run shows what the next purge removes"
            )
        p = retention.plan(store.numbered_facts(), site.retention, utcnow(), site.visits)
        rows = store.purge(p, dry_run=args.dry_run)
    except StoreError as exc:
        raise _Usage(str(exc)) from None
    finally:
        store.close()
    sys.stdout.write(retention.describe(p, rows, args.dry_run))
    return 0
