"""`alarm-console serve`: run the console service until SIGTERM or SIGINT; `alarm-console fanout`:
the e-mail and Apprise process that `serve` starts and supervises."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from stilalarm.console.cli.parser import EXIT_DB

if TYPE_CHECKING:
    from stilalarm.console.config import ServiceConfig
    from stilalarm.console.ha.run import Active
    from stilalarm.console.shell.service import ConsoleService
    from stilalarm.inventory.model import Site
    from stilalarm.wire.credentials import BrokerCredentials

FANOUT_NICE = 5
"""`alarm-console fanout` runs this much nicer than `serve` (the scheduler prefers the alarm path)."""


def serve(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from stilalarm.console.config import ServiceConfig
    from stilalarm.console.shell.service import ConsoleService, Reload
    from stilalarm.console.store import StoreError
    from stilalarm.inventory.load import InventoryError, load_site
    from stilalarm.wire.credentials import BrokerCredentials, ConfigError, load_json_model

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
    try:
        cfg = ServiceConfig(
            site_path=args.site,
            db_path=args.db,
            broker_dir=args.broker_dir,
            batch_max=args.batch_max,
            warm_nodes_every_s=args.warm_nodes_every,
            node_silent_after_s=args.node_silent_after,
        )
    except ValidationError as exc:
        print(f"alarm-console serve: invalid option: {exc}", file=sys.stderr)
        return 2
    log = logging.getLogger("console")
    stop = threading.Event()
    running: list[ConsoleService] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("console").info("signal %s: stopping", signal.Signals(signum).name)
        stop.set()

    def on_hup(_signum: int, _frame: FrameType | None) -> None:
        for svc in running:
            svc.inbox.put(Reload())  # the writer thread reloads (it alone touches the state)
        if not running and args.ha:  # a standby: nothing runs on the inventory yet
            log.info("reload: a standby reads %s again when it takes over", args.site)
        elif not running:
            log.warning("reload: still starting on %s as it was read; reload again once started", args.site)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_hup)
    release: Callable[[], None] | None = None
    pidfile = pid_path(args.db)
    try:  # written first: `alarm-console reload` finds a standby too
        pidfile.write_text(f"{os.getpid()}\n", encoding="utf-8")
    except OSError as exc:
        log.warning("cannot write %s (%s): `alarm-console reload` cannot find this service", pidfile, exc)
    if args.ha:
        got = _serve_ha(args, cfg, site, creds, stop)
        if isinstance(got, int):
            _remove_pidfile(pidfile)
            return got
        svc, release = got.svc, got.release
    else:
        try:
            svc = ConsoleService(cfg, site, creds, init=args.init)
        except StoreError as exc:
            log.critical("not starting: %s", exc)
            _remove_pidfile(pidfile)
            return EXIT_DB
        try:
            svc.start()
        except StoreError as exc:
            log.critical("not starting: %s", exc)
            svc.store.close()
            _remove_pidfile(pidfile)
            return EXIT_DB
    _limit_cluster_queue(args.broker_dir, svc)
    running.append(svc)
    failed = False
    while not stop.wait(0.5):
        if svc.wait(0):  # the writer ended on its own: a fatal error
            failed = True
            break
    svc.stop()
    if release is not None:
        release()  # --ha: the standby takes over at once
    _remove_pidfile(pidfile)
    return 1 if failed else 0


def _remove_pidfile(pidfile: Path) -> None:
    """Remove the pid file if it is still this process's."""
    try:
        if pidfile.read_text(encoding="utf-8").strip() == str(os.getpid()):
            pidfile.unlink()
    except OSError:
        pass


def _limit_cluster_queue(broker_dir: Path, svc: ConsoleService) -> None:
    """On the cluster profile (console-log.json in the broker directory) the console that serves
    (`serve`, or `serve --ha` once active) sets the limits of the queued QoS1 messages (docs/HA.md,
    item 13) in a thread of its own, so that alarms are served meanwhile; if it cannot, facilities
    are told what to fix (fail open: the alarms go on without the limits)."""
    from stilalarm.console.ha.jetstream import ClusterLogCredentials, set_queue_limits
    from stilalarm.console.shell.inbox import ClusterProblem
    from stilalarm.wire.credentials import ConfigError, load_json_model
    from stilalarm.wire.messages import utcnow

    path = broker_dir / "console-log.json"
    if not path.exists():
        return  # mosquitto: its own per-login limits (broker_config/render.py)
    since = utcnow()

    def run() -> None:
        try:
            problem = set_queue_limits(load_json_model(ClusterLogCredentials, path))
        except ConfigError as exc:
            problem = str(exc)
            logging.getLogger("console").error("cluster queue limits not set: %s", exc)
        if problem is None:
            logging.getLogger("console").info("cluster: the queued QoS1 messages are limited")
        else:
            svc.inbox.put(ClusterProblem("queue_unlimited", since, problem))

    threading.Thread(target=run, name="queue-limits", daemon=True).start()


def _serve_ha(
    args: argparse.Namespace,
    cfg: ServiceConfig,
    site: Site,
    creds: BrokerCredentials,
    stop: threading.Event,
) -> Active | int:
    """`serve --ha NAME`: follow the log as a standby until this console is active."""
    from stilalarm.console.core.lease import LeaseTimes
    from stilalarm.console.ha.jetstream import ClusterLogCredentials, LogUnavailable
    from stilalarm.console.ha.run import serve_ha
    from stilalarm.console.store import StoreError
    from stilalarm.wire.credentials import ConfigError, load_json_model

    log = logging.getLogger("console")
    path = args.broker_dir / "console-log.json"
    try:
        clog = load_json_model(ClusterLogCredentials, path)
    except ConfigError as exc:
        print(f"{exc}\n(`alarm-broker render --profile cluster` writes it)", file=sys.stderr)
        return 2
    ttl = args.ha_ttl
    if args.ha_retention_every < 1:
        print(f"--ha-retention-every {args.ha_retention_every}: give at least 1 (seconds)", file=sys.stderr)
        return 2
    times = LeaseTimes(ttl_s=ttl, renew_every_s=ttl / 4, read_every_s=min(0.25, ttl / 8), margin_s=ttl / 6)
    try:
        return serve_ha(cfg, site, creds, clog, args.ha, times, stop, args.ha_retention_every)
    except StoreError as exc:
        log.critical("not starting: %s", exc)
        return EXIT_DB
    except LogUnavailable as exc:
        log.critical("not starting: the cluster's log cannot be reached: %s", exc)
        return 1


def pid_path(db: Path) -> Path:
    """Where `serve` writes its process id (for `alarm-console reload`)."""
    return db.with_name(db.name + ".pid")


def reload(args: argparse.Namespace) -> int:
    """Check the inventory, then send SIGHUP to the `serve` of this database. An invalid site.toml is
    refused here with the reason (exit 2) and serve keeps running on its inventory."""
    from stilalarm.inventory.load import InventoryError, load_site

    try:
        site = load_site(args.site)
    except InventoryError as exc:
        print(f"not reloaded, the console keeps its running inventory: {exc}", file=sys.stderr)
        return 2
    path = pid_path(args.db)
    try:
        pid = int(path.read_text(encoding="utf-8").strip())
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError) as exc:
        print(
            f"no running `alarm-console serve --db {args.db}` found ({path}: {exc}); under systemd: "
            "systemctl reload stilalarm-console",
            file=sys.stderr,
        )
        return 1
    print(f"{args.site}: site {site.site.id} OK ({len(site.units)} units); serve (pid {pid}) reloads it")
    return 0


def fanout(args: argparse.Namespace) -> int:
    """The fan-out process: deliveries on stdin, outcomes on stdout, until stdin ends."""
    from stilalarm.console.delivery.fanout import die_with_parent, run
    from stilalarm.inventory.load import InventoryError, load_site

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s fanout %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not die_with_parent(args.parent_pid):
        return 0  # the service is already gone: nothing to deliver for
    try:  # the alarm path (serve) first when the CPU is short; e-mail can wait a little
        os.nice(FANOUT_NICE)
    except OSError:
        pass
    # Ctrl-C in serve's terminal and systemd's SIGTERM reach the whole group / cgroup: serve stops
    # us in order (end of stdin, after a short drain), and we die with it (PR_SET_PDEATHSIG).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        site = load_site(args.site)
    except InventoryError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return run(site, args.journal, sys.stdin.buffer, sys.stdout.buffer)
