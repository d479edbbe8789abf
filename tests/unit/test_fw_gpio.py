"""gpiozero MockFactory-driven pins -> events; LED outputs; sd_notify; health probes; control lines."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from stilalarm.devkit.unitdoubles import ManualTime, RecordingPort
from stilalarm.firmware import feedback, health
from stilalarm.firmware.control import Control, ControlError, PinActuator, parse_control
from stilalarm.firmware.gpio import GpioInputs, GpioOutputs
from stilalarm.firmware.notify import Notifier, socket_address, watchdog_interval_s
from stilalarm.firmware.outbox import Outbox
from stilalarm.firmware.runtime import UnitRuntime
from stilalarm.wire import messages as m
from tests.unit.test_fw_runtime import T, config


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    old = Device.pin_factory
    Device.pin_factory = MockFactory()
    yield Device.pin_factory
    Device.pin_factory.reset()
    Device.pin_factory = old


class Unit:
    def __init__(self, tmp: Path, unit_id: str) -> None:
        self.time = ManualTime()
        self.port = RecordingPort()
        self.rt = UnitRuntime(
            config(unit_id),
            outbox=Outbox(tmp / "o.sqlite"),
            port=self.port,
            scheduler=self.time,
            clock=self.time,
        )
        self.rt.start()
        self.rt.link_up()
        # MockFactory runs the callbacks in the thread that drives the pin: post = call now
        self.inputs = GpioInputs(self.rt.unit, self.rt, lambda fn: fn(), self.time.now_ms)
        self.unit_id = unit_id

    def events(self) -> list[m.UnitEvent]:
        seen: dict[uuid.UUID, m.UnitEvent] = {}
        for p in self.port.on(T.unit_event(self.unit_id)):
            ev = m.parse(m.UnitEvent, p)
            seen.setdefault(ev.event_id, ev)
        return list(seen.values())


def test_dual_button_pins_to_alarm(factory: MockFactory, tmp_path: Path) -> None:
    u = Unit(tmp_path, "balie-1")
    no, nc, tamper = factory.pin(5), factory.pin(6), factory.pin(27)
    nc.drive_low()  # idle: NC closed
    tamper.drive_low()  # lid closed
    u.time.advance(1000)
    assert u.events() == []
    nc.drive_high()  # press: NC opens (both open for a moment) ...
    u.time.advance(2)
    no.drive_low()  # ... then NO closes
    u.time.advance(49)
    assert u.events() == []
    u.time.advance(1)
    [ev] = u.events()
    assert ev.kind is m.EventKind.ALARM and ev.button_id == "knop"
    no.drive_high()
    u.time.advance(2)
    nc.drive_low()
    u.time.advance(1000)
    assert len(u.events()) == 1
    u.inputs.close()


def test_dual_button_cut_and_tamper_are_faults(factory: MockFactory, tmp_path: Path) -> None:
    u = Unit(tmp_path, "balie-1")
    factory.pin(6).drive_low()
    factory.pin(27).drive_low()
    u.time.advance(500)
    factory.pin(6).drive_high()  # NC wire cut: both contacts read open
    factory.pin(27).drive_high()  # lid opened
    u.time.advance(500)
    kinds = sorted((e.kind.value, e.fault.value if e.fault else "") for e in u.events())
    assert kinds == [("fault", "cut"), ("fault", "tamper")]
    u.inputs.close()


def test_nc_button_and_chatter(factory: MockFactory, tmp_path: Path) -> None:
    u = Unit(tmp_path, "spreekkamer-3")
    pin = factory.pin(5)
    pin.drive_low()
    u.time.advance(100)
    for _ in range(20):  # chatter: 2 ms open, 2 ms closed
        pin.drive_high()
        u.time.advance(2)
        pin.drive_low()
        u.time.advance(2)
    u.time.advance(500)
    assert u.events() == []
    pin.drive_high()  # a real press of an NC button opens the contact
    u.time.advance(100)
    assert [e.kind for e in u.events()] == [m.EventKind.ALARM]
    u.inputs.close()


def test_actuator_press_uses_the_same_path(factory: MockFactory, tmp_path: Path) -> None:
    u = Unit(tmp_path, "spreekkamer-2")
    pins = PinActuator(u.rt.unit, factory, u.time.call_later)
    pins.idle()
    u.time.advance(1000)
    pins.press("deur")
    u.time.advance(1000)
    pins.cut("tafel")
    u.time.advance(1000)
    evs = [(e.kind.value, e.button_id) for e in u.events()]
    assert evs == [("alarm", "deur"), ("fault", "tafel")]
    with pytest.raises(ControlError, match="no button"):
        pins.press("nope")
    u.inputs.close()


def test_led_outputs(factory: MockFactory) -> None:
    out = GpioOutputs(config("balie-1").unit)
    assert out.led is not None and out.buzzer is None
    out.show(feedback.ACKNOWLEDGED, feedback.OFF)
    assert out.led.is_lit
    out.show(feedback.OFF, feedback.OFF)
    assert not out.led.is_lit
    out.show(feedback.STORED, feedback.OFF)  # blinking in the background
    out.show(feedback.OFF, feedback.OFF)
    assert not out.led.is_lit
    out.close()


# --------------------------------------------------------------------------- sd_notify


def test_notify_sends_datagrams(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as srv:
        srv.bind(path)
        n = Notifier(path)
        assert n.ready() and n.watchdog()
        assert srv.recv(100) == b"READY=1"
        assert srv.recv(100) == b"WATCHDOG=1"
        n.close()


def test_notify_abstract_namespace() -> None:
    name = f"@stilalarm-test-{uuid.uuid4().hex}"
    assert socket_address(name) == "\0" + name[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as srv:
        srv.bind(socket_address(name))
        assert Notifier(name).send("STATUS=hi")
        assert srv.recv(100) == b"STATUS=hi"


def test_notify_is_a_no_op_outside_systemd() -> None:
    n = Notifier("")
    assert not n.enabled and not n.ready()


def test_watchdog_interval() -> None:
    assert watchdog_interval_s({"WATCHDOG_USEC": "15000000"}) == 7.5
    assert watchdog_interval_s({}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "15000000", "WATCHDOG_PID": "1"}, pid=2) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "15000000", "WATCHDOG_PID": str(os.getpid())}) == 7.5


# --------------------------------------------------------------------------- health, control lines


def test_health_parsers(tmp_path: Path) -> None:
    assert health.parse_cpu_temp("47250\n") == 47.2
    assert health.parse_cpu_temp("garbage") is None
    wireless = (
        "Inter-| sta-|   Quality        |   Discarded packets               | Missed | WE\n"
        " face | tus | link level noise |  nwid  crypt   frag  retry   misc | beacon | 22\n"
        " wlan0: 0000   70.  -40.  -256        0      0      0      0      0        0\n"
    )
    assert health.parse_wifi_dbm(wireless) == -40
    assert health.parse_wifi_dbm(wireless.splitlines(keepends=True)[0]) is None
    (tmp_path / "t").write_text("51000")
    assert health.probe(tmp_path / "t", tmp_path / "missing") == (51.0, None)


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        ("press balie-1", Control("press", "balie-1")),
        ("press spreekkamer-2 deur", Control("press", "spreekkamer-2", "deur")),
        ("hold balie-1 2.5", Control("hold", "balie-1", seconds=2.5)),
        ("  release balie-1  # comment", Control("release", "balie-1")),
        ("test-key spreekkamer-1 on", Control("test-key", "spreekkamer-1", on=True)),
        ("quit", Control("quit")),
        ("", None),
        ("# nothing", None),
    ],
)
def test_control_lines(line: str, parsed: Control | None) -> None:
    assert parse_control(line) == parsed


@pytest.mark.parametrize("line", ["jump balie-1", "press", "hold balie-1 x", "hold balie-1 -1", "status a b"])
def test_bad_control_lines_say_what_is_expected(line: str) -> None:
    with pytest.raises(ControlError, match=r"usage|unknown|number|between"):
        parse_control(line)
