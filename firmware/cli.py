"""`alarm-unit`: the desk-unit firmware (run), local test mode, and a config check.

    alarm-unit run --config /etc/stilalarm/unit.json --state-dir /var/lib/stilalarm [--sim]
    alarm-unit test-mode on|off [--minutes N] --state-dir DIR
    alarm-unit check --config unit.json
    alarm-unit enroll CONSOLE_HOST --site SITE --ca-file ca.crt [--then systemd|run|none]

`run` wires the shared `UnitRuntime` to the real world: gpiozero pins, a
`stilalarm.wire.link.Link` (paho with its own network thread), one outbox file in the state
directory, systemd notifications (READY=1 once the outbox and pins are ready,
WATCHDOG=1 from the event loop while it runs) and SIGTERM/SIGINT for a clean stop
with the retained "offline (shutdown)" status.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stilalarm.firmware import FIRMWARE_VERSION, fleetconfig, gpio, health, localtest
from stilalarm.firmware.control import ControlError, JsonLines, PinActuator, parse_control
from stilalarm.firmware.eventloop import LoopScheduler
from stilalarm.firmware.notify import Notifier, watchdog_interval_s
from stilalarm.firmware.outbox import Outbox, OutboxError
from stilalarm.firmware.pinwatch import RETRY_S, PinWatch, SwitchOutputs
from stilalarm.firmware.ports import Settings, SteppedClock, SystemClock
from stilalarm.firmware.runtime import UnitRuntime
from stilalarm.firmware.sim import LOG_FORMAT, execute_on
from stilalarm.inventory.derived import UnitConfig
from stilalarm.wire.credentials import ConfigError, load_json_model
from stilalarm.wire.link import Link
from stilalarm.wire.messages import TEST_WINDOW_MAX_MIN, EventKind, UnitEvent

log = logging.getLogger("alarm-unit")

OUTBOX_FILE = "outbox.sqlite"


class _LinkPort:
    """The runtime's Port on a `stilalarm.wire.link.Link`."""

    def __init__(self, link: Link) -> None:
        self.link = link

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        self.link.publish(topic, payload, qos=qos, retain=retain)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="alarm-unit",
        description="stilalarm desk-unit firmware: reads the panic buttons, stores every alarm "
        "durably, sends it to the console over MQTT and resends it until the console confirms it "
        "stored it; shows discreet feedback on the LED. See docs/FIRMWARE.md.",
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run the unit (systemd: Type=notify, WatchdogSec)")
    r.add_argument("--config", required=True, type=Path, help="unit config (DIR/units/<id>.json from render)")
    r.add_argument(
        "--state-dir", required=True, type=Path, help="durable state (the outbox), e.g. /var/lib/stilalarm"
    )
    r.add_argument("--sim", action="store_true", help="simulated pins (gpiozero MockFactory)")
    r.add_argument(
        "--control-stdin",
        action="store_true",
        help="with --sim: read alarm-sim control lines on stdin and print JSON lines on stdout",
    )
    r.add_argument(
        "--pins-retry-s",
        type=float,
        default=RETRY_S,
        help=f"seconds between attempts to open pins that cannot be read (default {RETRY_S:g})",
    )
    r.add_argument("--log-level", default="INFO", help="log level on stderr (default INFO)")
    t = sub.add_parser("test-mode", help="switch local test mode of the unit running with --state-dir")
    t.add_argument("state", choices=("on", "off"))
    t.add_argument(
        "--minutes",
        type=float,
        help=f"duration, at most {TEST_WINDOW_MAX_MIN} (default: the unit's test_mode_minutes); the "
        "console still takes a test press as a real alarm unless its own window for the unit is open",
    )
    t.add_argument("--state-dir", required=True, type=Path, help="the running unit's --state-dir")
    t.add_argument("--wait", type=float, default=3.0, help="seconds to wait for the unit to confirm")
    _enroll_parser(sub)
    c = sub.add_parser("check", help="validate a unit config and print a summary")
    c.add_argument("--config", required=True, type=Path, help="unit config to check")
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except ConfigError as exc:  # a unit config that cannot be read: the message alone, exit status 1
        raise SystemExit(str(exc)) from None


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.cmd == "check":
        return check(args.config)
    if args.cmd == "enroll":
        return enroll_cmd(args)
    if args.cmd == "test-mode":
        return test_mode(args.state_dir, args.state == "on", args.minutes, args.wait)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, format=LOG_FORMAT)
    if args.control_stdin and not gpio.wants_mock(args.sim):
        print("--control-stdin drives simulated pins: add --sim", file=sys.stderr)
        return 2
    cfg = load_json_model(UnitConfig, args.config)
    return run(
        cfg,
        args.state_dir,
        sim=gpio.wants_mock(args.sim),
        control_stdin=args.control_stdin,
        pins_retry_s=max(0.1, args.pins_retry_s),
    )


def _enroll_parser(sub: Any) -> None:
    from stilalarm.firmware.enroll import DEFAULT_LED_PIN

    e = sub.add_parser(
        "enroll",
        help="get this Pi's identity from the console: show a code, wait for facilities to approve it",
        description="Enrol this Pi (docs/ENROLLMENT.md): it shows a code (here and blinked on the LED); "
        "facilities approve it with `alarm-console enroll approve CODE --unit UNIT`; the unit's config "
        "with its own fresh credentials arrives sealed to this Pi's key and is written to --config.",
    )
    e.add_argument("host", help="the broker / console server's host name (as in its TLS certificate)")
    e.add_argument("--site", required=True, help="the site id (site.toml [site] id), e.g. hz-gemeentehuis")
    e.add_argument("--port", type=int, default=8883, help="the broker's TLS port (default 8883)")
    tls = e.add_mutually_exclusive_group(required=True)
    tls.add_argument(
        "--ca-file", type=Path, help="the site CA certificate (ca.crt: public, shipped to every Pi)"
    )
    tls.add_argument(
        "--no-tls", action="store_true", help="plain MQTT: development and tests on loopback only"
    )
    e.add_argument(
        "--config",
        type=Path,
        default=Path("/etc/stilalarm/unit.json"),
        help="where to write the unit config "
        "(default /etc/stilalarm/unit.json, what the stilalarm-unit service runs)",
    )
    e.add_argument(
        "--minutes", type=float, default=10.0, help="how long the code waits for approval (default 10)"
    )
    e.add_argument(
        "--led-pin",
        type=int,
        default=DEFAULT_LED_PIN,
        help=f"GPIO of the LED that blinks the code (default {DEFAULT_LED_PIN})",
    )
    e.add_argument("--sim", action="store_true", help="simulated pins (gpiozero MockFactory)")
    e.add_argument(
        "--then",
        choices=("systemd", "run", "none"),
        default="systemd",
        help="once enrolled: systemd = enable and (re)start the --service (default); run = run the "
        "unit in this process (needs --state-dir); none = stop",
    )
    e.add_argument(
        "--service", default="stilalarm-unit", help="systemd service to start (default stilalarm-unit)"
    )
    e.add_argument(
        "--owner",
        default="stilalarm",
        help="user that owns the written config, the service's user (default stilalarm; '' for none)",
    )
    e.add_argument("--state-dir", type=Path, help="with --then run: as for `alarm-unit run`")
    e.add_argument(
        "--control-stdin", action="store_true", help="with --then run --sim: as for `alarm-unit run`"
    )
    e.add_argument("--log-level", default="INFO", help="log level on stderr (default INFO)")


def enroll_cmd(args: argparse.Namespace) -> int:
    """Enrol, then start the unit as asked. Exit 0 enrolled (and started), 1 refused or expired, 2 bad use."""
    import subprocess

    from stilalarm.firmware.enroll import EnrollError, EnrollOptions, enroll

    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr, format=LOG_FORMAT)
    if args.then == "run" and args.state_dir is None:
        print("--then run needs --state-dir", file=sys.stderr)
        return 2
    if not 0 < args.minutes <= 60:
        print("--minutes must be more than 0 and at most 60", file=sys.stderr)
        return 2
    if args.ca_file is not None and not args.ca_file.is_file():
        print(f"{args.ca_file}: no such file; give the site CA certificate (ca.crt)", file=sys.stderr)
        return 2
    opts = EnrollOptions(
        host=args.host,
        port=args.port,
        site_id=args.site,
        ca_file=args.ca_file,
        config=args.config,
        minutes=args.minutes,
        led_pin=args.led_pin,
        sim=gpio.wants_mock(args.sim),
        owner=args.owner,
    )
    try:
        cfg = enroll(opts)
    except EnrollError as exc:
        print(f"not enrolled: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"not enrolled: {exc}", file=sys.stderr)
        return 1
    if args.then == "run":
        return run(cfg, args.state_dir, sim=opts.sim, control_stdin=args.control_stdin)
    if args.then == "systemd":
        # enable for every boot, restart so a unit that was running picks up its new config
        res = subprocess.run(["systemctl", "enable", args.service], check=False)
        if res.returncode == 0:
            res = subprocess.run(["systemctl", "restart", args.service], check=False)
        if res.returncode != 0:
            print(
                f"enrolled, but `systemctl enable/restart {args.service}` failed: start it by hand",
                file=sys.stderr,
            )
            return 1
        print(f"started {args.service}", flush=True)
    return 0


def check(path: Path) -> int:
    """Validate a unit config (ConfigError names the file and field) and print what it says."""
    cfg = load_json_model(UnitConfig, path)
    u, b = cfg.unit, cfg.broker
    print(f"{path}: unit {u.id} ({u.role.value}) in room {u.room}, site {cfg.site_id}: OK")
    for btn in u.buttons:
        pins = f"NO=GPIO{btn.pin} NC=GPIO{btn.nc_pin}" if btn.nc_pin is not None else f"GPIO{btn.pin}"
        label = f" ({btn.label})" if btn.label else ""
        print(
            f"  button {btn.id}: {btn.contact.value} {pins}, min hold {btn.min_hold_ms} ms, "
            f"debounce {btn.debounce_ms} ms{label}"
        )
    extras = [
        f"{name} GPIO{pin}"
        for name, pin in (
            ("led", u.led_pin),
            ("buzzer", u.buzzer_pin),
            ("tamper", u.tamper_pin),
            ("test key", u.test_key_pin),
        )
        if pin is not None
    ]
    timing = f"heartbeat {u.heartbeat_s:g} s; test mode {u.test_mode_minutes:g} min"
    print(f"  {', '.join(extras) or 'no LED'}; {timing}")
    where = ", ".join(str(a) for a in b.addresses)
    print(f"  broker {where} as {b.username} ({'TLS' if b.tls else 'plain'})")
    return 0


def test_mode(state_dir: Path, on: bool, minutes: float | None, wait: float) -> int:
    """Ask the running unit to switch test mode, and wait for it to confirm."""
    if not state_dir.is_dir():
        print(f"{state_dir}: no such directory; give the running unit's --state-dir", file=sys.stderr)
        return 2
    if minutes is not None and not 0 < minutes <= TEST_WINDOW_MAX_MIN:
        print(
            f"--minutes must be more than 0 and at most {TEST_WINDOW_MAX_MIN}: a test window is short, "
            "opened at the unit while you test it",
            file=sys.stderr,
        )
        return 2
    rid = localtest.write_request(state_dir, on, minutes)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if localtest.applied_request(state_dir) == rid:
            st = localtest.read_json(state_dir / localtest.STATE) or {}
            print(f"test mode {'on until ' + str(st.get('until')) if on else 'off'}")
            return 0
        time.sleep(0.1)
    print(
        f"request written to {state_dir / localtest.REQUEST}, but no running alarm-unit with "
        f"--state-dir {state_dir} confirmed it within {wait:g} s (is it running?)",
        file=sys.stderr,
    )
    return 1


def run(
    cfg: UnitConfig, state_dir: Path, *, sim: bool, control_stdin: bool, pins_retry_s: float = RETRY_S
) -> int:
    """Run the unit until SIGTERM / SIGINT (or `quit` on the control channel)."""
    uid = cfg.unit.id
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        outbox = Outbox(state_dir / OUTBOX_FILE)
    except (OSError, OutboxError) as exc:
        print(f"{exc}", file=sys.stderr)
        return 2
    stored = fleetconfig.load(state_dir, cfg)
    if stored is not None:  # the newest config the console pushed and this unit applied
        cfg = stored[0]
        log.info("unit %s: running the applied config %s", uid, stored[1].version)
    factory = gpio.use_mock_pins() if sim else None
    loop = asyncio.new_event_loop()
    sched = LoopScheduler(loop)
    clock = SystemClock()
    out = JsonLines(sys.stdout) if control_stdin else None

    def post(fn: Callable[[], None]) -> None:
        """Hand work from paho's and gpiozero's threads to the event loop."""
        loop.call_soon_threadsafe(fn)

    def observe(name: str, fields: dict[str, Any]) -> None:
        if out is not None:
            out.emit(uid, name, **fields)
        if name not in ("release",):
            log.info("%s %s", name, " ".join(f"{k}={v}" for k, v in fields.items()))

    outputs = SwitchOutputs()  # the LED and buzzer, once the pin watch has opened them
    rt = UnitRuntime(
        cfg,
        outbox=outbox,
        port=_NoPort(),
        scheduler=sched,
        clock=clock,
        outputs=outputs,
        observe=observe,
        probe=health.probe,
        settings=Settings(),
    )
    link = Link(
        cfg.broker,
        will=rt.will(),
        on_up=lambda: post(rt.link_up),
        on_down=lambda reason: post(lambda: rt.link_down(reason)),
    )
    for topic in rt.subscriptions():
        link.subscribe(topic, lambda t, p: post(lambda: rt.on_message(t, p)))
    rt.port = _LinkPort(link)
    pins = PinActuator(cfg.unit, factory, sched.call_later) if sim else None
    watch = PinWatch(
        cfg.unit,
        rt,
        post,
        clock.now_ms,
        state_dir,
        sched.call_later,
        factory=lambda: factory,
        retry_s=pins_retry_s,
        outputs=outputs,
        on_open=pins.idle if pins is not None else None,
    )
    if stored is not None:
        rt.adopt(stored[1])
    rt.store_config = lambda push: fleetconfig.store(state_dir, push)

    def reconfigured(new: UnitConfig, pins_changed: bool) -> None:
        if pins is not None:
            pins.unit = new.unit
        if pins_changed:
            watch.reopen(new.unit)

    rt.on_reconfigured = reconfigured
    rt.start()
    watch.start()
    link.start()

    done: asyncio.Future[str] = loop.create_future()

    def stop(why: str) -> None:
        if not done.done():
            done.set_result(why)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, sig.name)

    watcher = localtest.RequestWatcher(state_dir)

    def poll_test_mode() -> None:
        loop.call_later(1.0, poll_test_mode)
        req = watcher.poll()
        if req is not None:
            on, minutes = req
            rt.set_local_test_mode(on, minutes, source="local")
            until = rt.test.until.isoformat() if rt.test.until else None
            watcher.answer(rt.test.active(clock.now_ms()), until)

    loop.call_later(1.0, poll_test_mode)

    notifier = Notifier()
    interval = watchdog_interval_s()

    def watchdog() -> None:
        # Runs on the event loop: a hung loop stops the pings and systemd restarts the unit.
        if rt.running:
            notifier.watchdog()
            loop.call_later(interval or 5.0, watchdog)

    if interval is not None:
        loop.call_later(interval, watchdog)
    if control_stdin and pins is not None:
        _attach_control(loop, rt, pins, out or JsonLines(sys.stdout), stop)
    notifier.ready(f"unit {uid}: {len(rt.pending)} unreceipted event(s)")
    log.info("unit %s running (firmware %s, boot %s, state %s)", uid, FIRMWARE_VERSION, rt.boot_id, state_dir)
    try:
        why = loop.run_until_complete(done)
        log.info("stopping: %s", why)
    finally:
        notifier.stopping()
        words = rt.stop()
        link.stop(last_words=words)
        watch.close()
        outbox.close()
        loop.close()
        notifier.close()
    return 0


def _crash_at(point: str, out: JsonLines) -> Callable[[str, UnitEvent], None]:
    """A one-shot fault: SIGKILL this process at `point` of the next alarm (fault injection)."""

    def hook(at: str, ev: UnitEvent) -> None:
        if at == point and ev.kind is EventKind.ALARM:
            out.emit(ev.unit_id, "crashing", point=point, event_id=str(ev.event_id))
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


class _NoPort:
    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        raise RuntimeError("link not attached yet")


def _attach_control(
    loop: asyncio.AbstractEventLoop, rt: UnitRuntime, pins: PinActuator, out: JsonLines, stop: Any
) -> None:
    """Control lines on stdin (the simulator's syntax; UNIT must be this unit)."""
    buf = [b""]
    fd = sys.stdin.fileno()
    os.set_blocking(fd, False)

    def readable() -> None:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return
        if not chunk:
            loop.remove_reader(fd)
            return
        buf[0] += chunk
        *lines, buf[0] = buf[0].split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", "replace")
            try:
                c = parse_control(line)
                if c is None:
                    continue
                if c.verb == "quit":
                    stop("quit")
                elif c.unit != rt.unit.id:
                    raise ControlError(f"this is unit {rt.unit.id}, not {c.unit!r}")
                elif c.verb == "kill":
                    raise ControlError("kill: send SIGKILL to this process instead")
                elif c.verb == "clock":
                    base = rt.clock.base if isinstance(rt.clock, SteppedClock) else rt.clock
                    rt.clock = SteppedClock(base, float(c.seconds or 0.0)) if c.seconds else base
                    out.emit(rt.unit.id, "clock_set", offset_s=c.seconds, wall=rt.clock.wall().isoformat())
                elif c.verb == "crash":
                    rt.crash_hook = _crash_at(str(c.point), out)
                    out.emit(rt.unit.id, "crash_armed", point=c.point)
                else:
                    execute_on(pins, rt, c, out)
            except ControlError as exc:
                out.emit(None, "error", message=str(exc), line=line.strip())

    loop.add_reader(fd, readable)


if __name__ == "__main__":
    raise SystemExit(main())
