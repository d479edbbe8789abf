"""`alarm-console serve --ha NAME`: one of a site's consoles on a cluster (docs/HA.md).

A console starts as a **standby**: it applies the replicated log to its own database, record by
record, and waits for the lease. When it gets the lease it catches up, appends a marker record
(which fences the log: an append by the former active, which names an older last sequence, is
refused from then on), applies everything up to its marker and starts the ordinary console
service on its database: the state is rebuilt from the facts as on a restart, every open
escalation resumes from its recorded times, and notifications not marked delivered are sent
again (the one bounded duplicate). The service appends every commit to the log before its own
database (`stilalarm.console.ha.replica`).

When the active loses the lease, or the log refuses its append, it stops acting at once: the
process replaces itself (`exec`) with a fresh standby, which drops every connection, thread and
queued publish of the active it was.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from dataclasses import dataclass
from typing import NoReturn

from stilalarm.console.config import ServiceConfig
from stilalarm.console.core import standbys
from stilalarm.console.core.lease import LeaseTimes
from stilalarm.console.ha.jetstream import ClusterLog, ClusterLogCredentials, LogGap, LogUnavailable
from stilalarm.console.ha.keeper import LeaseKeeper
from stilalarm.console.ha.presence import Announcer, StandbyWatch, announce_every_s
from stilalarm.console.ha.replica import LogReplica
from stilalarm.console.ha.retention import RetentionRunner
from stilalarm.console.sdnotify import SystemdNotifier
from stilalarm.console.shell.inbox import StandbyNotice
from stilalarm.console.shell.service import ConsoleService
from stilalarm.console.store import Store
from stilalarm.console.store.records import RecordError, Rows, StepDown, encode
from stilalarm.inventory.model import Site
from stilalarm.wire.credentials import BrokerCredentials
from stilalarm.wire.messages import utcnow
from stilalarm.wire.version import VERSION

log = logging.getLogger(__name__)

EXIT_LOG = 4
"""`serve --ha`: the replicated log cannot be read or applied (the message says why)."""


def step_down(why: str) -> NoReturn:
    """Stop acting at once: replace this process with a fresh standby (same arguments)."""
    log.critical("stepping down (%s): restarting as a standby", why)
    for h in logging.getLogger().handlers:
        h.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def follow(store: Store, clog: ClusterLog, wait_s: float) -> int:
    """Apply the log's next records to `store`; returns how many. When the records after this
    database's were compacted into a snapshot (a new standby, or one that was away), the snapshot
    replaces the database first (`restore`)."""
    try:
        records = clog.read(store.log_seq(), wait_s=wait_s)
    except LogGap as gap:
        restore(store, clog, gap)
        records = clog.read(store.log_seq(), wait_s=wait_s)
    for seq, record in records:
        store.apply(seq, record)
    return len(records)


def restore(store: Store, clog: ClusterLog, gap: LogGap) -> int:
    """Replace `store`'s content with the log's newest snapshot; its log seq. LogUnavailable when no
    snapshot covers the gap (then nothing is changed: the caller retries)."""
    snap = clog.get_snapshot()
    if snap is None or snap[0] < gap.first_seq - 1 or snap[0] < store.log_seq():
        have = "none" if snap is None else f"record {snap[0]}"
        raise LogUnavailable(
            f"{gap}; but the newest snapshot ({have}) does not reach record {gap.first_seq - 1}: "
            "this console cannot follow the log (check the cluster's STILALARM_SNAP stream)"
        )
    was = store.log_seq()
    seq = store.restore(snap[1])
    log.warning(
        "restored the log's snapshot at record %d (this database had applied up to %d; the records in "
        "between were compacted away); following the log from there",
        seq,
        was,
    )
    return seq


def _foreign(store: Store, clog: ClusterLog) -> str:
    """Why this database cannot follow this log ('' when it can)."""
    mine = store.log_seq()
    if mine == 0 and store.fact_count() > 0:
        return (
            f"{store.path} holds facts that are not in the cluster's log (a single console's database): "
            "start each console of a cluster on a new database (--db), and keep this one for reports; "
            "to carry its facts into the cluster, run `alarm-console db to-cluster` on it once, before "
            "any console of the cluster has run"
        )
    try:
        last = clog.last_seq()
    except LogUnavailable:
        return ""  # checked again by the next start; a standby waits for the cluster
    if mine > last:
        return (
            f"{store.path} has applied the log up to record {mine}, but the cluster's log ends at {last}: "
            "it belongs to another log (was the cluster rebuilt?); move this database aside and start again"
        )
    return ""


@dataclass(frozen=True)
class Active:
    """The started service of the console that holds the lease, its keeper and its retention."""

    svc: ConsoleService
    keeper: LeaseKeeper
    retention: RetentionRunner
    standbys: StandbyWatch

    def release(self) -> None:
        """After a clean stop: hand the lease over at once (a standby need not wait for the ttl)."""
        self.standbys.stop()
        self.retention.stop()
        self.keeper.release()


def current_site(cfg: ServiceConfig, started_with: Site) -> Site:
    """site.toml as it is now, for a standby taking over: it read the file when it started, maybe
    weeks ago, and reloads (SIGHUP) only reach the active. Kept (logged) when the file is now
    invalid or names another site: an active on the old inventory beats no active at all."""
    from stilalarm.inventory.load import InventoryError, load_site

    try:
        site = load_site(cfg.site_path)
    except InventoryError as exc:
        log.error(
            "taking over on the inventory read at this console's start: %s is invalid now (%s); fix it "
            "and run `alarm-console reload`",
            cfg.site_path,
            exc,
        )
        return started_with
    if site.site.id != started_with.site.id:
        log.error(
            "taking over on the inventory read at this console's start: %s now names site %r, not %r "
            "(a new site id means new topics: restart the consoles)",
            cfg.site_path,
            site.site.id,
            started_with.site.id,
        )
        return started_with
    if site != started_with:
        log.warning("taking over on %s as it is now (changed since this console started)", cfg.site_path)
    return site


def serve_ha(
    cfg: ServiceConfig,
    site: Site,
    creds: BrokerCredentials,
    clog_creds: ClusterLogCredentials,
    instance: str,
    times: LeaseTimes,
    stop: threading.Event,
    retention_every_s: float = 86400.0,
) -> Active | int:
    """Follow the log as a standby until this console gets the lease (then return the started
    service) or `stop` is set (then return 0). An unreadable log returns EXIT_LOG. The active
    applies the site's retention and compacts the log every `retention_every_s`."""
    systemd = SystemdNotifier()
    systemd.ready()  # a standby is a running service: systemd's start timeout must not kill it
    clog = ClusterLog(clog_creds)
    while True:  # a standby waits for the cluster (it may have no quorum right now)
        try:
            clog.start(wait_s=10.0)
            break
        except LogUnavailable as exc:
            log.warning("standby %s: the cluster's log cannot be reached yet (%s); retrying", instance, exc)
            systemd.watchdog()
            if stop.wait(1.0):
                return 0
    store = Store(cfg.db_path, init=True)  # a standby's database is a projection of the log
    refused = _foreign(store, clog)
    if refused:
        log.critical("not starting: %s", refused)
        store.close()
        clog.close()
        return EXIT_LOG
    won = threading.Event()
    keeper = LeaseKeeper(
        clog,
        instance,
        times,
        on_activate=lambda _term: won.set(),
        on_deactivate=lambda term, why: step_down(f"term {term}: {why}"),
    )
    keeper.start()
    log.info(
        "standby %s for site %s: following the log from record %d", instance, site.site.id, store.log_seq()
    )
    applied = 0
    here = Announcer(clog, instance, announce_every_s(site.cluster.standby_silent_after_s))
    try:
        while not won.is_set():
            systemd.watchdog()
            here.maybe(store.log_seq())
            if stop.is_set():
                keeper.stop()
                store.close()
                clog.close()
                return 0
            try:
                applied += follow(store, clog, wait_s=0.2)
            except LogUnavailable as exc:
                log.warning("standby: cannot read the log (%s); retrying", exc)
                stop.wait(0.5)
        log.warning("taking over in term %d after applying %d record(s) as standby", keeper.term, applied)
        site = current_site(cfg, site)
        replica = LogReplica(clog, clog.last_seq(), keeper.acting, site.cluster.page_after_s)
        marker_seq = replica.append_waiting(encode(Rows(at=utcnow().isoformat())))
        while store.log_seq() < marker_seq:  # (the keeper replaces this process if it loses the lease)
            follow(store, clog, wait_s=0.5)
    except RecordError as exc:
        log.critical("the log cannot be applied: %s", exc)
        keeper.stop()
        return EXIT_LOG
    except StepDown as exc:
        step_down(str(exc))
    except LogUnavailable as exc:  # holding the lease but unable to fence the log: let another try
        step_down(f"the log did not answer while taking over ({exc})")
    store.close()
    svc = ConsoleService(cfg, site, creds)
    svc.store.replica = replica
    replica.bound_by(lambda: svc.site.cluster.page_after_s)  # a reload (SIGHUP) changes it too
    svc.may_act = keeper.acting
    svc.on_step_down = step_down
    svc.publisher.term = keeper.term
    svc.publisher.instance = instance
    try:
        svc.start()
    except StepDown as exc:
        step_down(str(exc))
    log.warning("ACTIVE console %s for site %s from log record %d", instance, site.site.id, marker_seq)
    runner = RetentionRunner(svc, clog, retention_every_s)
    runner.start()

    def policy() -> standbys.Policy:  # the service's current site: a reload (SIGHUP) changes it
        c = svc.site.cluster
        return standbys.Policy(instance, VERSION, c.consoles - 1, c.standby_silent_after_s)

    watch = StandbyWatch(clog, policy, lambda e: svc.inbox.put(StandbyNotice(e)))
    try:
        watch.start()
    except LogUnavailable as exc:  # not fatal: the alarm path does not need it; said at once
        log.error("cannot hear the standby consoles (%s): facilities are not told when one is gone", exc)
    return Active(svc, keeper, runner, watch)
