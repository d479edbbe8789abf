"""Outbox + wire: store each event durably first, send it, resend until receipted.

Retransmission backs off from `retransmit_first_s`, doubling up to `retransmit_max_s`; a receipt
removes the event from the outbox and updates the feedback (alarm stored, test recorded).
"""

from __future__ import annotations

import sqlite3
import uuid
from datetime import timedelta
from typing import Any

from stilalarm.firmware import feedback
from stilalarm.firmware.unitstate import Pending, UnitState, log
from stilalarm.wire.messages import (
    ContractError,
    EventKind,
    FaultKind,
    Receipt,
    UnitEvent,
    encode,
    new_id,
    parse,
)


def backoff_s(attempts: int, first_s: float, max_s: float) -> float:
    """Delay before the next retransmission after `attempts` transmissions."""
    return float(min(max_s, first_s * 2 ** max(0, attempts - 1)))


class UnitWire(UnitState):
    """The outbox and the wire of a unit's runtime."""

    def _emit(
        self,
        kind: EventKind,
        button_id: str | None,
        *,
        detected_ms: int,
        started_ms: int | None = None,
        fault: FaultKind | None = None,
        campaign_id: str | None = None,
        detail: str = "",
    ) -> UnitEvent:
        """Store the event durably FIRST, then send it (and keep resending until receipted)."""
        now_ms = self.clock.now_ms()
        wall = self.clock.wall()
        occurred = wall - timedelta(milliseconds=max(0, now_ms - (started_ms or detected_ms)))

        def build(seq: int) -> UnitEvent:
            return UnitEvent(
                event_id=new_id(),
                unit_id=self.unit.id,
                kind=kind,
                button_id=button_id,
                fault=fault,
                seq=seq,
                boot_id=self.boot_id,
                occurred_at=occurred,
                sent_at=occurred,
                attempt=1,
                campaign_id=campaign_id,
                detail=detail,
            )

        durable = True
        coalesced: tuple[uuid.UUID, ...] = ()
        try:
            res = self.outbox.append(self.unit.id, build)
            ev, coalesced = res.event, res.coalesced
        except (sqlite3.Error, OSError):
            # Never lose the event because the disk failed: keep it in memory and send it.
            log.critical("%s: cannot store %s in the outbox; sending from memory only", self.unit.id, kind)
            ev = build(self._last_seq + 1)
            durable = False
        self._last_seq = max(self._last_seq, ev.seq)
        for old in coalesced:
            self.pending.pop(old, None)
        p = Pending(ev, 0, detected_ms, durable=durable)
        self.pending[ev.event_id] = p
        fields: dict[str, Any] = {"event_id": str(ev.event_id), "button": button_id, "seq": ev.seq}
        if not durable:
            fields["durable"] = False
        if kind in (EventKind.FAULT, EventKind.FAULT_CLEARED):
            state = "raised" if kind is EventKind.FAULT else "cleared"
            self.observe("fault", fault=fault, state=state, **fields)
        else:
            if campaign_id is not None:
                fields["campaign_id"] = campaign_id
            self.observe(f"{kind.value}_stored", **fields)
        if self.crash_hook is not None:
            self.crash_hook("store", ev)
        self._transmit(p)
        self._arm_retransmit()
        return ev

    def _transmit(self, p: Pending) -> None:
        if not self.up:
            p.next_due_ms = None  # goes out on the next link up
            return
        p.attempts += 1
        msg = p.event.model_copy(update={"attempt": p.attempts, "sent_at": self.clock.wall()})
        self.port.publish(self.topics.unit_event(self.unit.id), encode(msg), 1, False)
        s = self.settings
        p.next_due_ms = self.clock.now_ms() + int(
            1000 * backoff_s(p.attempts, s.retransmit_first_s, s.retransmit_max_s)
        )
        if p.durable:
            try:
                self.outbox.mark_sent(p.event.event_id, p.attempts)
            except sqlite3.Error:
                log.exception("%s: could not record the attempt count (ignored)", self.unit.id)
        if p.attempts > 1:
            ev = p.event
            log.info("%s: retransmitted %s %s (attempt %d)", self.unit.id, ev.kind, ev.event_id, p.attempts)

    def _pending_in_order(self) -> list[Pending]:
        return sorted(self.pending.values(), key=lambda p: p.event.seq)

    def _arm_retransmit(self) -> None:
        self._timers.cancel("retx")
        due = [p.next_due_ms for p in self.pending.values() if p.next_due_ms is not None]
        if not due or not self.running:
            return
        delay = max(0.0, (min(due) - self.clock.now_ms()) / 1000)
        self._timers.handles["retx"] = self.sched.call_later(delay, self._retransmit_due)

    def _retransmit_due(self) -> None:
        self._timers.handles.pop("retx", None)
        now = self.clock.now_ms()
        for p in sorted(self.pending.values(), key=lambda p: p.event.seq):
            if p.next_due_ms is not None and p.next_due_ms <= now:
                self._transmit(p)
        self._arm_retransmit()

    def _on_receipt(self, payload: bytes) -> None:
        try:
            r = parse(Receipt, payload)
        except ContractError as exc:
            log.warning("%s: malformed receipt ignored: %s", self.unit.id, exc)
            return
        if r.unit_id != self.unit.id:
            log.warning("%s: receipt for unit %s ignored", self.unit.id, r.unit_id)
            return
        p = self.pending.pop(r.event_id, None)
        if p is None:
            log.info("%s: receipt for unknown or receipted event %s ignored", self.unit.id, r.event_id)
            return
        if self.crash_hook is not None:
            self.crash_hook("receipt", p.event)
        if p.durable:
            try:
                self.outbox.receipt(self.unit.id, r.event_id)
            except sqlite3.Error:
                log.exception("%s: could not remove %s (resent after restart)", self.unit.id, r.event_id)
        now = self.clock.now_ms()
        ev = p.event
        self.observe(
            "receipt",
            event_id=str(ev.event_id),
            kind=ev.kind.value,
            button=ev.button_id,
            incident_id=r.incident_id,
            duplicate=r.duplicate,
            attempts=p.attempts,
            latency_ms=None if p.detected_ms is None else now - p.detected_ms,
        )
        if ev.kind is EventKind.ALARM or (ev.kind is EventKind.TEST and r.incident_id is not None):
            self.fb = feedback.alarm_stored(self.fb)  # the console took a "test" as a real alarm
        elif ev.kind is EventKind.TEST:
            self.fb = feedback.test_recorded(self.fb, now)
        self._refresh_outputs()
        self._arm_retransmit()
