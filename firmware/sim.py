"""`alarm-sim`: many simulated desk units in one process, on the real firmware code.

Every simulated unit is a real `UnitRuntime` (same input machine, outbox and
protocol logic as `alarm-unit`) with its own gpiozero `MockFactory` pins, a
`MuxLink` MQTT client, and its rows in one shared outbox file. One thread runs
everything: an asyncio loop drives all MQTT sockets, all timers and the control
lines on stdin. Observable changes are printed as JSON lines on stdout (format:
docs/FIRMWARE.md).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stilalarm.firmware import fleetconfig, gpio
from stilalarm.firmware.control import Control, ControlError, JsonLines, PinActuator, parse_control
from stilalarm.firmware.eventloop import LoopScheduler, raise_nofile_limit
from stilalarm.firmware.mux import Mux, MuxLink
from stilalarm.firmware.outbox import Outbox, OutboxError
from stilalarm.firmware.ports import NoOutputs, Settings, SystemClock
from stilalarm.firmware.runtime import UnitRuntime
from stilalarm.inventory import InventoryError, load_site
from stilalarm.inventory.derived import UnitConfig
from stilalarm.inventory.kinds import Via
from stilalarm.wire.credentials import ConfigError, load_json_model

log = logging.getLogger("alarm-sim")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CONNECT_BATCH = 50  # units whose connect is started per loop iteration


@dataclass
class SimUnit:
    """One simulated unit: runtime, pins, link."""

    cfg: UnitConfig
    rt: UnitRuntime
    link: MuxLink
    inputs: gpio.GpioInputs
    pins: PinActuator
    alive: bool = True


class Simulator:
    """Owns the loop, the shared outbox, the units and the control channel."""

    def __init__(self, configs: list[UnitConfig], state_dir: Path, out: JsonLines) -> None:
        self.state_dir = state_dir
        self.loop = asyncio.new_event_loop()
        self.sched = LoopScheduler(self.loop)
        self.clock = SystemClock()
        self.out = out
        self.outbox = Outbox(state_dir / "sim-outbox.sqlite")
        self.mux = Mux(self.loop)
        self.units: dict[str, SimUnit] = {}
        self._ever_up: set[str] = set()
        self._ready = False
        self._t0 = time.monotonic()
        self._done: asyncio.Future[None] = self.loop.create_future()
        self._stdin_buf = b""
        self.stdin_eof_quits = True
        for cfg in configs:
            self.units[cfg.unit.id] = self._make(cfg)

    def _make(self, cfg: UnitConfig) -> SimUnit:
        uid = cfg.unit.id
        stored = fleetconfig.load(self.state_dir, cfg)
        if stored is not None:  # the newest config the console pushed and this unit applied
            cfg = stored[0]

        def observe(name: str, fields: dict[str, Any]) -> None:
            self.out.emit(uid, name, **fields)
            if name == "link" and fields.get("state") == "up":
                self._unit_up(uid)

        rt = UnitRuntime(
            cfg,
            outbox=self.outbox,
            port=_LazyPort(),
            scheduler=self.sched,
            clock=self.clock,
            outputs=NoOutputs(),
            observe=observe,
            settings=Settings(heartbeat_offset_s=random.uniform(0.5, cfg.unit.heartbeat_s)),
        )
        link = self.mux.link(
            cfg.broker,
            subscriptions=rt.subscriptions(),
            on_message=rt.on_message,
            on_up=rt.link_up,
            on_down=rt.link_down,
            will=rt.will(),
        )
        rt.port = link
        factory = gpio.mock_factory()

        def post(fn: Any) -> None:
            self.loop.call_soon(fn)

        inputs = gpio.GpioInputs(cfg.unit, rt, post, self.clock.now_ms, factory=factory)
        pins = PinActuator(cfg.unit, factory, self.sched.call_later)
        su = SimUnit(cfg, rt, link, inputs, pins)
        if stored is not None:
            rt.adopt(stored[1])
        rt.store_config = lambda push: fleetconfig.store(self.state_dir, push)

        def reconfigured(new: UnitConfig, pins_changed: bool) -> None:
            su.cfg = new
            su.pins.unit = new.unit
            if pins_changed and su.alive:
                su.inputs.close()
                su.pins.idle()
                su.inputs = gpio.GpioInputs(new.unit, rt, post, self.clock.now_ms, factory=factory)
                su.inputs.post_initial()

        rt.on_reconfigured = reconfigured
        return su

    # -- startup ---------------------------------------------------------------------
    def start(self) -> None:
        for u in self.units.values():
            u.pins.idle()
            u.rt.start()
            u.inputs.post_initial()
        pending = list(self.units.values())

        def connect_some() -> None:
            batch, pending[:] = pending[:CONNECT_BATCH], pending[CONNECT_BATCH:]
            for u in batch:
                u.link.start()
            if pending:
                self.loop.call_soon(connect_some)

        self.loop.call_soon(connect_some)
        if not self.units:
            self._emit_ready()

    def _unit_up(self, uid: str) -> None:
        self._ever_up.add(uid)
        if not self._ready and len(self._ever_up) == len(self.units):
            self._emit_ready()

    def _emit_ready(self) -> None:
        self._ready = True
        self.out.emit(None, "ready", units=len(self.units), connect_s=round(time.monotonic() - self._t0, 3))

    # -- control -----------------------------------------------------------------------
    def attach_stdin(self, fd: int = 0) -> None:
        os.set_blocking(fd, False)
        self.loop.add_reader(fd, self._read_stdin, fd)

    def _read_stdin(self, fd: int) -> None:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return
        if not chunk:
            self.loop.remove_reader(fd)
            if self.stdin_eof_quits:
                self.quit("stdin closed")
            return
        self._stdin_buf += chunk
        *lines, self._stdin_buf = self._stdin_buf.split(b"\n")
        for raw in lines:
            self.handle_line(raw.decode("utf-8", "replace"))

    def handle_line(self, line: str) -> None:
        """Execute one control line; problems become an `error` line, never a crash."""
        try:
            c = parse_control(line)
            if c is not None:
                self.execute(c)
        except ControlError as exc:
            self.out.emit(None, "error", message=str(exc), line=line.strip())

    def execute(self, c: Control) -> None:
        if c.verb == "quit":
            self.quit("quit")
            return
        u = self.units.get(c.unit or "")
        if u is None:
            raise ControlError(f"unknown unit {c.unit!r}")
        if not u.alive:
            raise ControlError(f"unit {c.unit} was killed")
        execute_on(u.pins, u.rt, c, self.out)
        if c.verb == "kill":
            u.alive = False
            u.rt.stop()
            u.link.kill()
            u.inputs.close()
            self.out.emit(u.cfg.unit.id, "killed")

    def quit(self, why: str) -> None:
        if not self._done.done():
            self._done.set_result(None)
            log.info("stopping: %s", why)

    # -- run ----------------------------------------------------------------------------
    async def _main(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(sig, self.quit, sig.name)
        self.start()
        await self._done
        words = {u.link: u.rt.stop() for u in self.units.values() if u.alive}
        await self.mux.shutdown(words)
        self.out.emit(None, "bye", units=len(words))

    def run(self) -> None:
        try:
            self.loop.run_until_complete(self._main())
        finally:
            for u in self.units.values():
                if u.alive:
                    u.inputs.close()
            self.outbox.close()
            self.loop.close()


def execute_on(pins: PinActuator, rt: UnitRuntime, c: Control, out: JsonLines) -> None:
    """Apply a unit control line to one unit's pins (shared with `alarm-unit run --sim`)."""
    uid = rt.unit.id
    if c.verb == "press":
        pins.press(c.button)
    elif c.verb == "hold":
        pins.press(c.button, c.seconds)
    elif c.verb == "release":
        pins.release()
    elif c.verb == "cut":
        pins.cut(c.button)
    elif c.verb == "short":
        pins.short(c.button)
    elif c.verb == "restore":
        pins.restore()
    elif c.verb == "tamper":
        pins.tamper()
    elif c.verb == "test-key":
        pins.test_key(bool(c.on))
    elif c.verb == "status":
        out.emit(uid, "status", **rt.status())
    elif c.verb == "kill":
        pass  # the caller owns the link
    elif c.verb in ("crash", "clock"):
        raise ControlError(
            f"{c.verb}: only `alarm-unit run --sim --control-stdin` (one unit, its own process)"
        )
    else:  # pragma: no cover - parse_control only returns known verbs
        raise ControlError(f"unknown command {c.verb!r}")


class _LazyPort:
    """Placeholder until the unit's link exists (nothing is published before start)."""

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        raise RuntimeError("link not attached yet")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="alarm-sim",
        description="Run many simulated desk units in one process on the real firmware code "
        "(input machine, durable outbox, protocol) with simulated pins. Control lines on stdin "
        "(press UNIT [BUTTON], hold UNIT SECONDS, release UNIT, cut UNIT, short UNIT, restore UNIT, "
        "tamper UNIT, test-key UNIT on|off, status UNIT, kill UNIT, quit); one JSON line per "
        "observable change on stdout. See docs/FIRMWARE.md.",
    )
    p.add_argument("--site", required=True, type=Path, help="site inventory (site.toml)")
    p.add_argument(
        "--broker-dir",
        required=True,
        type=Path,
        help="output of `alarm-broker render` (unit configs are read from DIR/units/)",
    )
    p.add_argument("--units", default="all", help="'all' or a comma-separated list of unit ids")
    p.add_argument(
        "--state-dir",
        type=Path,
        help="where the shared outbox lives (default: a new temp dir, removed on exit)",
    )
    p.add_argument(
        "--stdin-eof",
        choices=("quit", "ignore"),
        default="quit",
        help="what to do when stdin closes (default: quit)",
    )
    p.add_argument("--log-level", default="WARNING", help="log level on stderr (default WARNING)")
    return p


def load_configs(site_path: Path, broker_dir: Path, units: str) -> list[UnitConfig]:
    """The rendered config of every selected unit; ConfigError saying what to fix."""
    try:
        site = load_site(site_path)
    except InventoryError as exc:
        raise ConfigError(str(exc)) from None
    known = [u.id for u in site.units if u.via is Via.GPIO]  # web units are alarm-web's
    wanted = known if units == "all" else [x.strip() for x in units.split(",") if x.strip()]
    unknown = [x for x in wanted if x not in known]
    if unknown:
        raise ConfigError(
            f"--units: unknown unit(s) {', '.join(unknown)} (not Pi units in {site_path}; "
            "web units with via = phone / app are simulated by alarm-web itself)"
        )
    configs = []
    for uid in wanted:
        path = broker_dir / "units" / f"{uid}.json"
        if not path.exists():
            hint = f"alarm-broker render --site {site_path} --out {broker_dir}"
            raise ConfigError(f"{path}: missing; run `{hint}`")
        configs.append(load_json_model(UnitConfig, path))
    return configs


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, format=LOG_FORMAT)
    try:
        configs = load_configs(args.site, args.broker_dir, args.units)
    except ConfigError as exc:
        raise SystemExit(str(exc)) from None  # the message alone, exit status 1
    limit = raise_nofile_limit()
    if limit < len(configs) + 64:
        log.warning("open-files limit %d is low for %d units; raise it with `ulimit -n`", limit, len(configs))
    if args.state_dir is not None:
        return _run(args, configs, args.state_dir)
    # No --state-dir: the outbox lives in a temporary directory that goes with the process
    # (a SIGKILL leaves it behind: callers that kill should pass --state-dir).
    with tempfile.TemporaryDirectory(prefix="alarm-sim-", ignore_cleanup_errors=True) as tmp:
        return _run(args, configs, Path(tmp))


def _run(args: argparse.Namespace, configs: list[UnitConfig], state_dir: Path) -> int:
    try:
        sim = Simulator(configs, state_dir, JsonLines(sys.stdout))
    except OutboxError as exc:
        print(exc, file=sys.stderr)
        return 2
    sim.stdin_eof_quits = args.stdin_eof == "quit"
    sim.attach_stdin()
    sim.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
