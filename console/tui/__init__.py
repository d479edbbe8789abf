"""`alarm-console tui`: the console team leads and facilities use (Textual).

    alarm-console tui --as an [--site site.toml] [--broker-dir run/broker] [--lang en]
    alarm-console tui --config run/broker/people/an.json --site site.toml

`stilalarm.console.cli` routes `alarm-console tui ARGS...` to `main(argv)`. Textual is imported lazily.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="alarm-console tui",
        description="Console for team leads and facilities: alarms, resolve, units, history, presence.",
    )
    p.add_argument("--as", dest="person", help="person id to act as (reads BROKER_DIR/people/PERSON.json)")
    p.add_argument("--config", type=Path, help="a person's config JSON (instead of --as/--broker-dir)")
    p.add_argument("--site", type=Path, help="site inventory (default: site.toml, else examples/site.toml)")
    p.add_argument("--broker-dir", type=Path, default=Path("run/broker"), help="rendered broker dir")
    p.add_argument("--lang", choices=("nl", "en", "fr"), help="language (default: the person's)")
    p.add_argument("--history-days", type=int, default=7, help="days of history to show (default 7)")
    p.add_argument("--log", type=Path, help="write logs to this file (the screen is the TUI's)")
    return p


def _site_path(arg: Path | None) -> Path:
    if arg is not None:
        return arg
    for cand in (Path("site.toml"), Path("examples/site.toml")):
        if cand.exists():
            return cand
    return Path("site.toml")


def main(argv: list[str]) -> int:
    """Run the console; 0 on a normal quit, 2 on a configuration error (said on stderr)."""
    args = _parser().parse_args(argv)
    if args.log is not None:
        logging.basicConfig(filename=args.log, level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    else:
        logging.getLogger().addHandler(logging.NullHandler())  # never write over the screen

    from stilalarm.inventory import InventoryError, load_site
    from stilalarm.inventory.derived import PersonConfig
    from stilalarm.wire.credentials import ConfigError, load_json_model

    if args.config is None and args.person is None:
        print("alarm-console tui: give --as PERSON or --config FILE", file=sys.stderr)
        return 2
    config_path = args.config or args.broker_dir / "people" / f"{args.person}.json"
    try:
        site = load_site(_site_path(args.site))
        config = load_json_model(PersonConfig, config_path)
    except (InventoryError, ConfigError) as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.person is not None and args.person != config.person_id:
        print(f"{config_path} is the config of {config.person_id!r}, not {args.person!r}", file=sys.stderr)
        return 2
    if config.site_id != site.site.id:
        print(
            f"{config_path} is for site {config.site_id!r}, the inventory is {site.site.id!r}",
            file=sys.stderr,
        )
        return 2
    try:
        site.person(config.person_id)
    except KeyError:
        print(f"person {config.person_id!r} is not in the site inventory", file=sys.stderr)
        return 2

    from stilalarm.console.tui.app import ConsoleApp

    app = ConsoleApp(
        site,
        config.person_id,
        config.broker,
        lang=args.lang or config.language.value,
        history_days=args.history_days,
    )
    result = app.run()
    return int(result or 0)


__all__ = ["main"]
