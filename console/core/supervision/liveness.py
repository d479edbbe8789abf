"""Is a unit alive: status (birth, will, shutdown), heartbeats, fault events, silence.

A unit is offline when its last will arrives, when it shuts down, or when no heartbeat came
for `missed_heartbeats` intervals (the interval is the one the unit announces; before the
first heartbeat, the inventory's `heartbeat_s` counted from the service start). The
console's own stall or deafness moves every unit's silence baseline on (`rebaseline`).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta

from stilalarm.console.core.effects import PublishHealth, SendReceipt
from stilalarm.console.core.supervision.buildings import window_due
from stilalarm.console.core.supervision.clock import check_clock, clock_sample
from stilalarm.console.core.supervision.state import NO_LIVE, LiveHealth, UnitsState
from stilalarm.console.core.supervision.transitions import SupTx, transition, unit_notice
from stilalarm.console.facts import Fact, FaultCleared, FaultRaised, UnitOffline, UnitOnline, UnitRestarted
from stilalarm.inventory.kinds import Role
from stilalarm.wire.messages import EventKind, FaultKind, Heartbeat, LinkState, UnitEvent, UnitStatus


def _silence_base(s: UnitsState, uid: str) -> datetime:
    """Where a unit's silence is counted from: its last sign of life, the start, or later when
    the console itself stalled since."""
    lv = s.live.get(uid, NO_LIVE)
    base = lv.last_heartbeat or s.started_at
    return max(base, lv.silent_from) if lv.silent_from is not None else base


def silent_deadline(s: UnitsState, uid: str) -> datetime:
    """When the unit counts as offline if nothing more is heard of it."""
    lv = s.live.get(uid, NO_LIVE)
    interval = lv.interval_s or s.site.unit(uid).heartbeat_s
    return _silence_base(s, uid) + timedelta(seconds=interval * s.policy.missed_heartbeats)


def _came_alive(tx: SupTx, uid: str, boot_id: uuid.UUID, firmware: str) -> None:
    """A sign of life: online again, restarted unexpectedly, or first seen (recorded, nobody told)."""
    if tx.s.units[uid].held_until is not None:
        release_held(tx, uid)  # back before its building's notice: facilities hear of the gap now
    r = tx.s.units[uid]
    facts: list[Fact] = []
    keys: list[str] = []
    if r.boot_id is not None and boot_id != r.boot_id and not r.clean_shutdown:
        facts.append(UnitRestarted(at=tx.now, unit_id=uid, old_boot_id=r.boot_id, new_boot_id=boot_id))
        keys.append("restarted")
    if r.online is not True:
        facts.append(UnitOnline(at=tx.now, unit_id=uid, boot_id=boot_id, firmware_version=firmware))
        if r.online is False:
            keys.append("online")
    elif boot_id != r.boot_id and not facts:
        facts.append(UnitOnline(at=tx.now, unit_id=uid, boot_id=boot_id, firmware_version=firmware))
    if facts and keys:
        transition(tx, uid, facts, keys[0], {})
    elif facts:  # first sight: recorded, nobody to tell
        for f in facts:
            tx.record(f)
        tx.emit(PublishHealth(uid))


def on_status(tx: SupTx, st: UnitStatus) -> None:
    """A unit's birth (online), last will or clean shutdown (offline)."""
    uid = st.unit_id
    if st.state is LinkState.ONLINE:
        lv = tx.s.live.get(uid, NO_LIVE)
        tx.s = replace(
            tx.s,
            live={
                **tx.s.live,
                uid: replace(
                    lv, last_heartbeat=tx.now, silent_from=None, firmware=st.firmware_version or lv.firmware
                ),
            },
        )
        _came_alive(tx, uid, st.boot_id, st.firmware_version)
        return
    r = tx.s.units[uid]
    if r.online is False:
        return
    if st.boot_id != r.boot_id and r.boot_id is not None and r.online:
        return  # the will of an older run, after the new run is already online
    why = "shutdown" if st.reason == "shutdown" else "lost"
    transition(tx, uid, [UnitOffline(at=tx.now, unit_id=uid, why=why)], f"offline_{why}", {})


def on_heartbeat(tx: SupTx, hb: Heartbeat) -> None:
    """A heartbeat: alive, clock check, outbox backlog, and UnitHealth when it changed or is stale."""
    uid = hb.unit_id
    old = tx.s.live.get(uid, NO_LIVE)
    lv = clock_sample(
        tx.s.policy,
        old,
        LiveHealth(
            last_heartbeat=tx.now,
            interval_s=hb.interval_s,
            outbox_depth=hb.outbox_depth,
            test_mode=hb.test_mode,
            test_until=hb.test_until,
            firmware=hb.firmware_version,
            published_at=old.published_at,
            heard=True,
            config_version=hb.config_version,
            os_name=hb.os_name,
            kernel=hb.kernel,
            python=hb.python,
        ),
        hb.sent_at,
        tx.now,
    )
    tx.s = replace(tx.s, live={**tx.s.live, uid: lv})
    _came_alive(tx, uid, hb.boot_id, hb.firmware_version)
    check_clock(tx, uid, hb.sent_at)
    r = tx.s.units[uid]
    backlog = hb.outbox_depth > tx.s.policy.backlog_threshold
    if backlog and "unit:backlog" not in r.faults:
        fact: Fact = FaultRaised(at=tx.now, unit_id=uid, fault="unit:backlog")
        transition(tx, uid, [fact], "backlog", {"depth": str(hb.outbox_depth)})
    elif not backlog and "unit:backlog" in r.faults:
        fact = FaultCleared(at=tx.now, unit_id=uid, fault="unit:backlog")
        transition(tx, uid, [fact], "fault_cleared", {"fault": "backlog", "button": ""})
    if "unit:config" in r.faults and tx.s.config_current(uid):
        # the unit runs the current config now: a config it refused before no longer matters
        fact = FaultCleared(at=tx.now, unit_id=uid, fault="unit:config")
        transition(tx, uid, [fact], "fault_cleared", {"fault": "config", "button": ""})
    changed = (old.test_mode, old.outbox_depth > 0, old.config_version, old.firmware) != (
        lv.test_mode,
        lv.outbox_depth > 0,
        lv.config_version,
        lv.firmware,
    )
    stale = old.published_at is None or tx.now - old.published_at >= timedelta(
        seconds=tx.s.policy.health_refresh_s
    )
    if changed or stale or any(isinstance(e, PublishHealth) for e in tx.effects):
        tx.s = replace(tx.s, live={**tx.s.live, uid: replace(lv, published_at=tx.now)})
        if not any(isinstance(e, PublishHealth) for e in tx.effects):
            tx.emit(PublishHealth(uid))


def on_fault(tx: SupTx, ev: UnitEvent) -> None:
    """A fault or fault_cleared event of a button or the unit; always receipted."""
    uid = ev.unit_id
    assert ev.fault is not None
    key = f"{ev.button_id or 'unit'}:{ev.fault.value}"
    r = tx.s.units[uid]
    detail = {"fault": ev.fault.value, "button": f" ({ev.button_id})" if ev.button_id else ""}
    text_key = "fault"
    if ev.fault is FaultKind.CONFIG:  # the unit refused a pushed config: facilities read why
        text_key, detail = "config_refused", {"reason": ev.detail or "?"}
    if ev.kind is EventKind.FAULT and key not in r.faults:
        transition(
            tx, uid, [FaultRaised(at=tx.now, unit_id=uid, fault=key, event_id=ev.event_id)], text_key, detail
        )
    elif ev.kind is EventKind.FAULT_CLEARED and key in r.faults:
        fact = FaultCleared(at=tx.now, unit_id=uid, fault=key, event_id=ev.event_id)
        transition(tx, uid, [fact], "fault_cleared", detail)
    tx.emit(SendReceipt(uid, ev.event_id, None))


def rebaseline(tx: SupTx, gap_s: float) -> None:
    """The console could not hear anyone for `gap_s` (stalled, or not connected): every unit's
    silence counts from `gap_s` later (never later than now)."""
    s = tx.s
    gap = timedelta(seconds=gap_s)
    live = dict(s.live)
    for uid in s.site.index.units:
        lv = live.get(uid, NO_LIVE)
        live[uid] = replace(lv, silent_from=min(tx.now, _silence_base(s, uid) + gap))
    tx.s = replace(s, live=live, due_hint=None)


def scan_units(tx: SupTx) -> None:
    """Every unit: offline when silent past its deadline; a flap window's summary when it ended."""
    for uid in tx.s.site.index.units:
        r = tx.s.units[uid]
        if r.online is not False and tx.now >= silent_deadline(tx.s, uid):
            lv = tx.s.live.get(uid, NO_LIVE)
            why = "silent" if (r.online or lv.last_heartbeat is not None) else "never"
            last = lv.last_heartbeat or r.since or tx.s.started_at
            transition(
                tx,
                uid,
                [UnitOffline(at=tx.now, unit_id=uid, why=why, last_heard=last)],
                f"offline_{why}",
                {"last": last.isoformat()},
            )
    for uid in tx.s.site.index.units:  # after every offline of this tick: a building's notice first
        r = tx.s.units[uid]
        if r.held_until is not None and tx.now >= r.held_until:
            release_held(tx, uid)
        r = tx.s.units[uid]
        due = window_due(r)
        if due is not None and tx.now >= due and r.building_window and not r.suppressed:
            release_held(tx, uid)  # offline with its building, and not back when the window ended
        elif due is not None and tx.now >= due:
            state = "online" if r.online else "offline"
            minutes = str(round(tx.s.policy.flap_window_s / 60))
            unit_notice(
                tx,
                uid,
                tx.s.site.people_with(Role.FACILITIES),
                "flapping",
                {"count": str(r.suppressed), "minutes": minutes, "state": state},
            )


def release_held(tx: SupTx, uid: str) -> None:
    """Send a unit's offline notice that waited for its building (`buildings`)."""
    r = tx.s.units[uid]
    detail = {"last": r.held_last.isoformat()} if r.held_last is not None else {}
    unit_notice(tx, uid, tx.s.site.people_with(Role.FACILITIES), r.held_key or "offline_lost", detail)
