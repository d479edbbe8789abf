"""The protocol logic of one unit, shared by the real firmware and the simulator.

Inputs -> durable outbox -> wire; receipts, commands, heartbeat, feedback, test
mode. Everything outside is an injected port (`stilalarm.firmware.ports`), so the same code runs on a Pi
(`stilalarm.wire.link.Link`, gpiozero pins, one outbox file) and 2,000 times in one
simulator process (a multiplexed MQTT client, MockFactory pins, one shared file):

- `Port.publish`       the link (the shell calls `link_up` / `link_down` / `on_message`)
- `Scheduler.call_later` timers (the shell's event loop)
- `Clock`              monotonic milliseconds and wall time
- `Outputs.show`       LED / buzzer
- `observe(name, fields)` observable changes (the simulator prints them as JSON lines)

`UnitRuntime` is assembled from its parts: `stilalarm.firmware.unitstate` (state, feedback outputs),
`stilalarm.firmware.unitwire` (outbox + wire), `stilalarm.firmware.unitcommands` (commands, test mode) and
`stilalarm.firmware.unitinputs` (buttons, tamper, test key); this module adds the lifecycle, the link
events and the heartbeat. Every method must be called from one thread (the shell's event loop).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from stilalarm.firmware import feedback, fleetconfig, inputs
from stilalarm.firmware.health import os_info
from stilalarm.firmware.inputs import InputTiming
from stilalarm.firmware.unitinputs import UnitInputs
from stilalarm.firmware.unitstate import Pending, log
from stilalarm.inventory.derived import UnitConfig
from stilalarm.inventory.kinds import Via
from stilalarm.wire.messages import (
    ContractError,
    EventKind,
    FaultKind,
    Heartbeat,
    InputHealth,
    LinkState,
    UnitConfigPush,
    UnitStatus,
    encode,
    parse,
)
from stilalarm.wire.topics import UnitChannel


class UnitRuntime(UnitInputs):
    """One unit's protocol logic (see the module docstring for the ports)."""

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Load unreceipted events from the outbox (resent on the next link up) and start timers."""
        self.running = True
        for st in self.outbox.pending(self.unit.id):
            self.pending[st.event.event_id] = Pending(st.event, st.attempts, None)
            self._last_seq = max(self._last_seq, st.event.seq)
        if self.pending:
            log.warning("%s: %d unreceipted event(s) from before; resending", self.unit.id, len(self.pending))
        self.outputs.show(feedback.OFF, feedback.OFF)
        first = self.settings.heartbeat_offset_s
        self._schedule("hb", self.unit.heartbeat_s if first is None else first, self._heartbeat)

    def stop(self) -> tuple[str, bytes]:
        """Stop all timers; returns the retained 'offline (shutdown)' status to publish last."""
        self.running = False
        self._timers.cancel_all()
        return self.last_words()

    def will(self) -> tuple[str, bytes]:
        """The last will: retained 'offline (lost)', set before connecting."""
        return self._status(LinkState.OFFLINE, "lost", at=None)

    def last_words(self) -> tuple[str, bytes]:
        """Retained 'offline (shutdown)' for a clean stop."""
        return self._status(LinkState.OFFLINE, "shutdown", at=self.clock.wall())

    def _status(self, state: LinkState, reason: str, at: datetime | None) -> tuple[str, bytes]:
        msg = UnitStatus.model_validate(
            {
                "unit_id": self.unit.id,
                "state": state,
                "boot_id": self.boot_id,
                "firmware_version": self.settings.firmware_version,
                "reason": reason,
                "at": at,
            }
        )
        return self.topics.unit_status(self.unit.id), encode(msg)

    def subscriptions(self) -> list[str]:
        """Topics the link must subscribe to (QoS1, before connecting)."""
        subs = [self.topics.unit_receipt(self.unit.id), self.topics.unit_cmd(self.unit.id)]
        if self.unit.via is Via.GPIO:  # a web unit's config is alarm-web's web.json, never pushed
            subs.append(self.topics.unit_config(self.unit.id))
        return subs

    # ------------------------------------------------------------------ link events
    def link_up(self) -> None:
        """Connected and subscribed: birth message, then every unreceipted event at once."""
        if not self.running:
            return
        self.up = True
        topic, payload = self._status(LinkState.ONLINE, "connected", at=self.clock.wall())
        self.port.publish(topic, payload, 1, True)
        self.observe("link", state="up")
        for p in sorted(self.pending.values(), key=lambda p: p.event.seq):
            self._transmit(p)
        self._arm_retransmit()

    def link_down(self, reason: str = "") -> None:
        """The connection is gone; events stay pending and go out on the next link up."""
        was = self.up
        self.up = False
        if was:
            self.observe("link", state="down", reason=reason)

    def on_message(self, topic: str, payload: bytes) -> None:
        """A message on one of `subscriptions()`. Bad input is logged and ignored."""
        if not self.running:
            return
        parsed = self.topics.parse_unit(topic)
        if parsed is None or parsed[0] != self.unit.id:
            log.warning("%s: message on unexpected topic %s ignored", self.unit.id, topic)
            return
        if parsed[1] is UnitChannel.RECEIPT:
            self._on_receipt(payload)
        elif parsed[1] is UnitChannel.CMD:
            self._on_command(payload)
        elif parsed[1] is UnitChannel.CONFIG:
            self.on_config(payload)
        else:
            log.warning("%s: message on %s ignored", self.unit.id, topic)

    # ------------------------------------------------------------------ config from the console
    def adopt(self, push: UnitConfigPush) -> None:
        """Mark `push` as the applied config (the shell, at start, with the stored one)."""
        self.config_serial = push.serial
        self.config_version = push.version

    def on_config(self, payload: bytes) -> str:
        """A push on unit/U/config: apply it, ignore it (not newer) or refuse it (unit fault `config`
        with the reason); returns the action taken. Pending events are never touched."""
        if not payload:
            return "ignore"  # the retained config was cleared (unit removed from the site)
        try:
            push = parse(UnitConfigPush, payload)
        except ContractError as exc:
            return self._refuse(f"unreadable config: {exc}", hashlib.sha256(payload).hexdigest())
        v = fleetconfig.judge(self.cfg, self.config_serial, push)
        if v.action == "ignore":
            log.info("%s: config %s ignored: %s", self.unit.id, push.version, v.reason)
            return "ignore"
        if v.action == "reject" or v.cfg is None:
            return self._refuse(v.reason, push.digest)
        if self.store_config is not None:
            try:
                self.store_config(push)
            except OSError as exc:
                return self._refuse(f"cannot store the config: {exc}", push.digest)
        old_hb = self.unit.heartbeat_s
        self.reconfigure(v.cfg)
        self.adopt(push)
        self._config_refused = None
        log.info(
            "%s: config %s applied (pins %s)",
            self.unit.id,
            push.version,
            "changed" if v.pins_changed else "same",
        )
        self.observe("config", version=push.version, pins_changed=v.pins_changed)
        if self.on_reconfigured is not None:
            self.on_reconfigured(v.cfg, v.pins_changed)
        if self.running:
            # Say the new version soon, and restart the interval. Not at once after the last
            # heartbeat: the console drops one sooner than half an interval after the previous
            # (its flood limit), so wait until 0.6 of the shorter interval has passed.
            gap_ms = 600 * min(old_hb, self.unit.heartbeat_s)
            due = 0 if self._hb_sent_ms is None else self._hb_sent_ms + gap_ms - self.clock.now_ms()
            self._schedule("hb", max(0, due) / 1000, self._heartbeat)
        return "apply"

    def _refuse(self, reason: str, key: str) -> str:
        log.warning("%s: config refused: %s", self.unit.id, reason)
        self.observe("config_refused", reason=reason)
        if self._config_refused != key:
            self._config_refused = key
            self._emit(
                EventKind.FAULT,
                None,
                fault=FaultKind.CONFIG,
                detected_ms=self.clock.now_ms(),
                detail=reason[:200],
            )
        return "reject"

    def reconfigure(self, cfg: UnitConfig) -> None:
        """Run with `cfg` from now on. A button that stays keeps its input machine (a press being
        held is not lost); new inputs start idle, removed ones are dropped."""
        now = self.clock.now_ms()
        for gone in set(self._btn) - {b.id for b in cfg.unit.buttons}:
            self._timers.cancel(f"btn:{gone}")  # its machine's next deadline
            self._last_eval.pop(gone, None)
        self.cfg = cfg
        self.unit = cfg.unit
        self._btn = {b.id: b for b in self.unit.buttons}
        self._timing = {
            b.id: InputTiming(
                debounce_ms=b.debounce_ms,
                min_hold_ms=b.min_hold_ms,
                fault_settle_ms=self.settings.fault_settle_ms,
                stuck_ms=self.settings.stuck_ms,
            )
            for b in self.unit.buttons
        }
        self.buttons = {
            b.id: self.buttons.get(b.id) or inputs.initial(inputs.Reading.IDLE, now)
            for b in self.unit.buttons
        }
        if self.unit.tamper_pin is None:
            self.tamper = None
        elif self.tamper is None:
            self.tamper = inputs.switch_initial(False, now)
        if self.unit.test_key_pin is None:
            self.test_key = None
        elif self.test_key is None:
            self.test_key = inputs.switch_initial(False, now)

    # ------------------------------------------------------------------ heartbeat + status
    def input_health(self) -> dict[str, InputHealth]:
        """Per button (and 'tamper': 'tamper' = lid open) health."""
        h = {bid: st.health for bid, st in self.buttons.items()}
        if self.tamper is not None:
            h["tamper"] = InputHealth.TAMPER if self.tamper.stable else InputHealth.OK
        return h

    def heartbeat(self) -> Heartbeat:
        """The heartbeat message as of now."""
        now = self.clock.now_ms()
        temp, dbm = self.probe() if self.probe is not None else (None, None)
        active = self.test.active(now)
        os_name, kernel, python = os_info()
        return Heartbeat(
            unit_id=self.unit.id,
            boot_id=self.boot_id,
            seq=self._hb_seq,
            sent_at=self.clock.wall(),
            interval_s=self.unit.heartbeat_s,
            uptime_s=(now - self.started_ms) / 1000,
            outbox_depth=len(self.pending),
            firmware_version=self.settings.firmware_version,
            test_mode=active,
            test_until=self.test.until if active else None,
            inputs=self.input_health(),
            cpu_temp_c=temp,
            wifi_dbm=dbm,
            config_version=self.config_version,
            os_name=os_name,
            kernel=kernel,
            python=python,
        )

    def _heartbeat(self) -> None:
        self._timers.handles.pop("hb", None)
        if not self.running:
            return
        self._schedule("hb", self.unit.heartbeat_s, self._heartbeat)
        if self.up:
            self.port.publish(self.topics.unit_heartbeat(self.unit.id), encode(self.heartbeat()), 0, False)
            self._hb_seq += 1
            self._hb_sent_ms = self.clock.now_ms()

    def status(self) -> dict[str, Any]:
        """A summary for `status` lines and logs."""
        now = self.clock.now_ms()
        return {
            "link": "up" if self.up else "down",
            "outbox_depth": len(self.pending),
            "pending": [str(p.event.event_id) for p in self._pending_in_order()],
            "inputs": {k: v.value for k, v in self.input_health().items()},
            "test_mode": self.test.active(now),
            "led": self.shown[0].name,
            "boot_id": str(self.boot_id),
            "config_version": self.config_version,
        }
