"""The web units alarm-web keeps: one firmware `UnitRuntime` per desk phone or panic page.

Each web unit is a real unit runtime (the firmware's outbox, retransmission, receipts, test mode,
heartbeat), fed by HTTP instead of pins. All of them share one outbox file and one MQTT login
(`web`, whose ACL names exactly their topics), driven by the same asyncio loop as the HTTP server.
Desk phones are also watched for silence (`stilalarm.ingress.liveness`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stilalarm.firmware.eventloop import LoopScheduler
from stilalarm.firmware.mux import Mux
from stilalarm.firmware.outbox import Outbox
from stilalarm.firmware.ports import Clock, SystemClock
from stilalarm.firmware.runtime import UnitRuntime
from stilalarm.ingress import liveness
from stilalarm.inventory.derived import UnitConfig, WebConfig
from stilalarm.inventory.kinds import Via
from stilalarm.wire.messages import EventKind, FaultKind, UnitEvent
from stilalarm.wire.topics import Topics

log = logging.getLogger("alarm-web")

OUTBOX_FILE = "web-outbox.sqlite"
SILENT_FILE = "web-silent.json"


def _crash_at(point: str) -> Callable[[str, UnitEvent], None]:
    """Fault injection only (`alarm-web run --crash-at`): SIGKILL this process at `point` ("store":
    on disk, not yet sent; "receipt": the console has it, the outbox not yet told) of an alarm."""

    def hook(at: str, ev: UnitEvent) -> None:
        if at == point and ev.kind is EventKind.ALARM:
            log.critical("fault injection: crashing at %s of event %s", point, ev.event_id)
            for h in logging.getLogger().handlers:
                h.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


class _NoPort:
    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        raise RuntimeError("the link is attached before the runtimes start")


@dataclass
class Progress:
    """What the page can learn about one press: stored by the console, a lead coming."""

    unit_id: str
    incident_id: str | None = None
    received: bool = False


@dataclass
class UnitView:
    """The presses of one web unit in this alarm-web run (for the panic page)."""

    presses: dict[uuid.UUID, Progress] = field(default_factory=dict)


class WebUnits:
    """Every web unit's runtime, their link and the desk phones' silence watch."""

    def __init__(
        self,
        cfg: WebConfig,
        state_dir: Path,
        loop: asyncio.AbstractEventLoop,
        *,
        clock: Clock | None = None,
        crash_at: str | None = None,
    ) -> None:
        self.cfg = cfg
        self.loop = loop
        self.clock = clock or SystemClock()
        state_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir = state_dir
        self.outbox = Outbox(state_dir / OUTBOX_FILE)  # OutboxError says what to check
        self.sched = LoopScheduler(loop)
        self.mux = Mux(loop)
        self.views: dict[str, UnitView] = {u.id: UnitView() for u in cfg.units}
        self.runtimes: dict[str, UnitRuntime] = {}
        for u in cfg.units:
            ucfg = UnitConfig(site_id=cfg.site_id, timezone=cfg.timezone, unit=u, broker=cfg.broker)
            self.runtimes[u.id] = UnitRuntime(
                ucfg,
                outbox=self.outbox,
                port=_NoPort(),
                scheduler=self.sched,
                clock=self.clock,
                observe=self._observer(u.id),
            )
        subs = [t for rt in self.runtimes.values() for t in rt.subscriptions()]
        self.link = self.mux.link(
            cfg.broker,
            subscriptions=subs,
            on_message=self._on_message,
            on_up=self._up,
            on_down=self._down,
            will=None,  # one login speaks for many units: the console notices silence by heartbeats
            max_inflight=0,  # a burst of presses: no per-PUBACK walk of the queue (as the console's link)
        )
        for rt in self.runtimes.values():
            rt.port = self.link
            if crash_at == "receipt":
                rt.crash_hook = _crash_at(crash_at)
        self._crash_store = _crash_at("store") if crash_at == "store" else None  # after the commit
        phones = [u.id for u in cfg.units if u.via is Via.PHONE]
        self.phones = liveness.Phones.start(
            phones, self._load_silent(), time.monotonic(), cfg.policy.phone_silent_after_min * 60
        )
        self._watch: asyncio.TimerHandle | None = None
        self._queue: list[tuple[str, str, asyncio.Future[tuple[UnitEvent, bool]]]] = []
        self._inbox: list[tuple[str, bytes]] = []
        self._topics = Topics(cfg.site_id)
        self.up = False

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Load every unreceipted event (resent on link up), connect, watch the phones."""
        for rt in self.runtimes.values():
            rt.start()
        self.link.start()
        self._arm_watch()

    async def stop(self, timeout: float = 3.0) -> None:
        """Each unit's retained 'offline (shutdown)', then disconnect."""
        if self._watch is not None:
            self._watch.cancel()
        infos = []
        for i, rt in enumerate(self.runtimes.values()):
            words = rt.stop()
            if i == len(self.runtimes) - 1:
                infos.append(self.link.publish_last(words))
            elif self.up:
                infos.append(self.link.client.publish(words[0], words[1], qos=1, retain=True))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(i is None or i.is_published() for i in infos):
            await asyncio.sleep(0.01)
        await self.mux.shutdown({}, timeout=0.5)
        self.outbox.close()

    # -- presses ------------------------------------------------------------------------
    async def press(self, unit_id: str, detail: str = "") -> tuple[UnitEvent, bool]:
        """Raise the unit's alarm (a test press in test mode); returns once it is on disk.

        Presses that arrive together share one commit (`Outbox.batch`): one fsync for a burst.
        Returns the event and whether it is on disk (False: the outbox failed; it is sent from
        memory and resent until the console's receipt, but a restart would lose it)."""
        done: asyncio.Future[tuple[UnitEvent, bool]] = self.loop.create_future()
        self._queue.append((unit_id, detail, done))
        if len(self._queue) == 1:
            self.loop.call_soon(self._flush)
        return await done

    def _flush(self) -> None:
        """Store every queued press in one transaction; their publishes go out after the commit
        (the event loop writes the sockets only after this returns)."""
        queue, self._queue = self._queue, []
        made: list[tuple[UnitRuntime, UnitEvent, bool, asyncio.Future[tuple[UnitEvent, bool]]]] = []
        try:
            with self.outbox.batch():
                for unit_id, detail, done in queue:
                    rt = self.runtimes[unit_id]
                    try:
                        ev, durable = rt.remote_press(rt.unit.buttons[0].id, detail)
                    except Exception as exc:  # a bug: this press fails loudly, the others go on
                        log.exception("%s: the press could not be raised", unit_id)
                        done.set_exception(exc)
                        continue
                    made.append((rt, ev, durable, done))
            committed = True
        except sqlite3.Error:
            log.critical("cannot commit %d press(es) to the outbox; sending them from memory only", len(made))
            committed = False
        if self._crash_store is not None and committed and made:
            self._crash_store("store", made[0][1])
        for rt, ev, durable, done in made:
            p = rt.pending.get(ev.event_id)
            if not committed and p is not None:
                p.durable = False
            self.views[rt.unit.id].presses[ev.event_id] = Progress(rt.unit.id)
            self.heard(rt.unit.id)
            if not done.done():
                done.set_result((ev, durable and committed))

    def heard(self, unit_id: str) -> None:
        """A desk phone called (press or keep-alive): it is not silent."""
        self.phones, change = liveness.heard(self.phones, unit_id, time.monotonic())
        if change is liveness.Change.HEARD_AGAIN:
            log.warning("%s: heard again; clearing its silent fault", unit_id)
            self.runtimes[unit_id].remote_fault(FaultKind.SILENT, raised=False)
            self._save_silent()

    def progress(self, unit_id: str, event_id: uuid.UUID) -> Progress | None:
        """What is known of one press of this unit (None: not a press of this alarm-web run)."""
        return self.views[unit_id].presses.get(event_id)

    def feedback(self, unit_id: str) -> str:
        """What the unit's LED would say: off, stored (the console has it), acknowledged (a lead
        is coming) or nobody_reachable (nobody on the escalation can be reached: call 101)."""
        return self.runtimes[unit_id].fb.base.value

    def depth(self) -> int:
        """Events not yet receipted by the console, all web units together."""
        return sum(len(rt.pending) for rt in self.runtimes.values())

    # -- link ---------------------------------------------------------------------------
    def _up(self) -> None:
        self.up = True
        log.info("connected to the broker as %s", self.cfg.broker.username)
        for rt in self.runtimes.values():
            rt.link_up()

    def _down(self, reason: str) -> None:
        self.up = False
        log.warning("broker connection lost (%s); presses are kept and sent on reconnect", reason)
        for rt in self.runtimes.values():
            rt.link_down(reason)

    def _on_message(self, topic: str, payload: bytes) -> None:
        """Receipts and commands: handled together at the end of this loop turn, in one outbox
        transaction (a burst's 1,000 receipts are one fsync, not 1,000 on the loop)."""
        self._inbox.append((topic, payload))
        if len(self._inbox) == 1:
            self.loop.call_soon(self._drain)

    def _drain(self) -> None:
        inbox, self._inbox = self._inbox, []
        try:
            with self.outbox.batch():
                for topic, payload in inbox:
                    parsed = self._topics.parse_unit(topic)
                    rt = self.runtimes.get(parsed[0]) if parsed else None
                    if rt is None:
                        log.warning("message on unexpected topic %s ignored", topic)
                        continue
                    try:
                        rt.on_message(topic, payload)
                    except Exception:  # a bug: logged, the other messages go on
                        log.exception("%s: message on %s failed", rt.unit.id, topic)
        except sqlite3.Error:
            # removing receipted events failed: they are resent after a restart, the console
            # answers "duplicate"; nothing is lost
            log.exception("could not record %d receipt(s) in the outbox", len(inbox))

    def _observer(self, unit_id: str) -> Any:
        def observe(name: str, fields: dict[str, Any]) -> None:
            if name == "receipt":
                p = self.views[unit_id].presses.get(uuid.UUID(fields["event_id"]))
                if p is not None:
                    p.received, p.incident_id = True, fields.get("incident_id")
                log.info(
                    "%s: %s stored by the console as incident %s",
                    unit_id,
                    fields["kind"],
                    fields.get("incident_id"),
                )
            elif name not in ("led", "buzzer", "link", "release"):
                log.info("%s: %s %s", unit_id, name, " ".join(f"{k}={v}" for k, v in fields.items()))

        return observe

    # -- the phones' silence ------------------------------------------------------------
    def _arm_watch(self) -> None:
        due = liveness.next_check(self.phones)
        if due is None:
            return
        delay = max(0.0, due - time.monotonic()) + 0.01
        self._watch = self.loop.call_later(delay, self._check)

    def _check(self) -> None:
        self.phones, gone = liveness.check(self.phones, time.monotonic())
        for uid in gone:
            log.warning(
                "%s: not heard from for %.0f min; raising its silent fault", uid, self.phones.limit_s / 60
            )
            self.runtimes[uid].remote_fault(FaultKind.SILENT, raised=True)
        if gone:
            self._save_silent()
        self._arm_watch()

    def _load_silent(self) -> list[str]:
        p = self.state_dir / SILENT_FILE
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
            return [str(x) for x in data.get("silent", [])]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, AttributeError) as exc:
            log.error("%s unreadable (%s); treating every phone as heard", p, exc)
            return []

    def _save_silent(self) -> None:
        p = self.state_dir / SILENT_FILE
        tmp = p.with_name(p.name + ".tmp")
        try:
            tmp.write_text(json.dumps({"silent": sorted(self.phones.silent)}), encoding="utf-8")
            os.replace(tmp, p)
        except OSError as exc:
            log.error("cannot save %s (%s); a restart may forget a silent phone", p, exc)
