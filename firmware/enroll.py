"""`alarm-unit enroll`: a fresh Pi asks the console for its identity; no secret is copied by hand.

The Pi makes a key pair (memory only), shows the pairing code derived from its public key on stdout
and blinks it on the LED, and posts its request, retained with the code's lifetime as the message
expiry, over TLS with the site CA, logged in as the public `enroll` login. Once facilities approve
the code for an inventory unit, the console publishes that unit's config with fresh credentials
sealed to the Pi's key; the Pi opens it, writes it 0600 where `alarm-unit run` reads it, and the
command line starts the unit. docs/ENROLLMENT.md tells the whole procedure.

The LED's blink code (stilalarm.wire.enroll.blink_plan): a 2 s flash, then each digit as that many
short flashes (0 as ten), 1.5 s dark between digits, 4 s dark, again. Pins that cannot be opened
(no GPIO library, no access) do not stop the enrolment: the code is on the console too.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stilalarm.firmware import FIRMWARE_VERSION, gpio
from stilalarm.inventory.derived import UnitConfig
from stilalarm.wire.credentials import BrokerCredentials
from stilalarm.wire.enroll import (
    ENROLL_PASSWORD,
    ENROLL_USER,
    EnrollKey,
    EnrollKeyError,
    blink_plan,
    new_key,
    show_code,
)
from stilalarm.wire.enrollbus import EnrollBus, EnrollBusError
from stilalarm.wire.identity import region_login
from stilalarm.wire.messages import ContractError, EnrollReply, EnrollRequest, EnrollStatus, encode, parse
from stilalarm.wire.topics import Topics

log = logging.getLogger("alarm-unit")

DEFAULT_LED_PIN = 17
"""The feedback LED of the standard wiring (hardware/PINMAP.md); --led-pin for another."""
CA_NAME = "ca.crt"
REPOST_S = 30.0
"""While waiting, the request is posted again this often (docs/ENROLLMENT.md)."""
LED_HINT = "the LED blinks this code (a long flash, then each digit as short flashes, 0 = ten)"


@dataclass(frozen=True)
class EnrollOptions:
    host: str
    port: int
    site_id: str
    ca_file: Path | None  # None: plain MQTT (development and tests only)
    config: Path
    minutes: float
    led_pin: int | None
    sim: bool
    owner: str = ""  # the service's user: owns the written config (when run as root)


class Blinker:
    """Blinks the pairing code on the LED in a thread; does nothing when the pin cannot be opened."""

    def __init__(self, pin: int | None, code: str, factory: Any) -> None:
        self._stop = threading.Event()
        self._led: Any = None
        self.steps: list[tuple[bool, float]] = blink_plan(code)
        if pin is None:
            return
        try:
            from gpiozero import LED

            self._led = LED(pin, pin_factory=factory)
        except Exception as exc:  # any pin library failure: the code is on stdout too
            log.warning(
                "cannot open the LED on GPIO%s (%s): the code is shown on this console only", pin, exc
            )
            print(
                f"(the LED on GPIO{pin} cannot be used: {type(exc).__name__}; read the code here)", flush=True
            )
            return
        self._thread = threading.Thread(target=self._run, name="enroll-led", daemon=True)
        self._thread.start()

    @property
    def active(self) -> bool:
        return self._led is not None

    def _run(self) -> None:
        while not self._stop.is_set():
            for on, seconds in self.steps:
                self._led.on() if on else self._led.off()
                if self._stop.wait(seconds):
                    break
        self._led.off()

    def close(self) -> None:
        self._stop.set()
        if self._led is not None:
            self._thread.join(2.0)
            self._led.close()


class EnrollError(RuntimeError):
    """Enrolment did not give this Pi a config; the message says why and what to do."""


def enroll(opts: EnrollOptions) -> UnitConfig:
    """Enrol this Pi; the unit config written to opts.config, or EnrollError."""
    key = new_key()
    factory = gpio.use_mock_pins() if opts.sim else None
    topics = Topics(opts.site_id)
    creds = BrokerCredentials(
        site_id=opts.site_id,
        username=ENROLL_USER,
        password=ENROLL_PASSWORD,
        host=opts.host,
        port=opts.port,
        tls=opts.ca_file is not None,
        ca_file=str(opts.ca_file) if opts.ca_file else None,
    )
    answer: list[EnrollReply] = []
    got = threading.Event()

    def on_reply(_t: str, payload: bytes, _retained: bool) -> None:
        if not payload:
            return
        try:
            answer.append(parse(EnrollReply, payload))
        except ContractError as exc:
            log.warning("unreadable answer from the console ignored: %s", exc)
            return
        got.set()

    bus = EnrollBus(creds, key.client_id)
    bus.subscribe(topics.enroll_reply(key.fingerprint), on_reply)
    lifetime_s = int(opts.minutes * 60)
    deadline = time.monotonic() + lifetime_s
    blinker = Blinker(opts.led_pin, key.code, factory)
    _announce(key, opts, blinker.active)
    try:
        _connect(bus, deadline, [region_login(ENROLL_USER, opts.site_id)])
        request = EnrollRequest(
            public_key=key.public_b64, hostname=socket.gethostname()[:64], firmware=FIRMWARE_VERSION[:40]
        )
        if not bus.publish(
            topics.enroll_request(key.fingerprint),
            encode(request),
            retain=True,
            expiry_s=lifetime_s,
            timeout=10,
        ):
            raise EnrollError("the broker did not take the enrolment request; try again")
        print("waiting for approval ...", flush=True)
        if not _wait_for_reply(bus, topics.enroll_request(key.fingerprint), encode(request), got, deadline):
            bus.publish(topics.enroll_request(key.fingerprint), b"", retain=True, expiry_s=None, timeout=5)
            raise EnrollError(
                f"code {show_code(key.code)} expired after {opts.minutes:g} minutes without approval: "
                "run `alarm-unit enroll` again for a new code"
            )
        reply = answer[-1]
        if reply.status is not EnrollStatus.APPROVED or reply.sealed is None:
            raise EnrollError(f"the console refused this unit: {reply.reason or 'no reason given'}")
        cfg = _open(key, reply.sealed, opts)
        _write_config(cfg, opts)
        bus.publish(topics.enroll_request(key.fingerprint), b"", retain=True, expiry_s=None, timeout=5)
    finally:
        blinker.close()
        bus.close()
    print(
        f"enrolled as unit {cfg.unit.id} (room {cfg.unit.room}); config written to {opts.config}", flush=True
    )
    log.info("enrolled as unit %s, config %s", cfg.unit.id, opts.config)
    return cfg


def _wait_for_reply(
    bus: EnrollBus, topic: str, request: bytes, got: threading.Event, deadline: float
) -> bool:
    """Wait for the console's answer until the deadline; post the request again every
    REPOST_S seconds (on the cluster profile another client can overwrite it: this puts it back)."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return got.is_set()
        if got.wait(min(REPOST_S, left)):
            return True
        left = deadline - time.monotonic()
        if left > 1:
            bus.publish(topic, request, retain=True, expiry_s=int(left), timeout=10)


def _announce(key: EnrollKey, opts: EnrollOptions, led: bool) -> None:
    code = show_code(key.code)
    print(f"enrolment code: {code}", flush=True)
    print(
        f"  approve it in the console within {opts.minutes:g} minutes:\n"
        f"    alarm-console enroll approve {code} --unit <unit id>\n"
        f"  {LED_HINT if led else ''}",
        flush=True,
    )


def _connect(bus: EnrollBus, deadline: float, other_logins: list[str]) -> None:
    """Connect, trying again every few seconds until the deadline (the network may come up late).
    A refused login moves on to the next of `other_logins` at once: a site on a region's cluster
    has `enroll@<site id>` instead of `enroll` (both public; docs/HA.md "Region")."""
    while True:
        try:
            bus.connect(timeout=min(10.0, max(1.0, deadline - time.monotonic())))
            return
        except EnrollBusError as exc:
            if bus.login_refused and other_logins:
                log.info("the broker refused the login %s; trying %s", bus.creds.username, other_logins[0])
                bus.login_as(other_logins.pop(0))
                continue
            if time.monotonic() + 5 >= deadline:
                raise EnrollError(str(exc)) from None
            print(f"{exc}; trying again", file=sys.stderr, flush=True)
            time.sleep(5)


def _open(key: EnrollKey, sealed: str, opts: EnrollOptions) -> UnitConfig:
    try:
        cfg = UnitConfig.model_validate_json(key.open(sealed))
    except EnrollKeyError as exc:
        raise EnrollError(str(exc)) from None
    except ValueError as exc:
        raise EnrollError(f"the console's answer is not a unit config: {exc}") from None
    if cfg.site_id != opts.site_id:
        raise EnrollError(f"the answer is for site {cfg.site_id!r}, not {opts.site_id!r}")
    if cfg.broker.tls:
        if opts.ca_file is None:
            raise EnrollError("the unit's config wants TLS: give the site CA with --ca-file")
        local_ca = opts.config.parent / CA_NAME
        if opts.ca_file.resolve() != local_ca.resolve():
            opts.config.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(opts.ca_file, local_ca)
            os.chmod(local_ca, 0o644)
        cfg = cfg.model_copy(update={"broker": cfg.broker.model_copy(update={"ca_file": str(local_ca)})})
    return cfg


def _write_config(cfg: UnitConfig, opts: EnrollOptions) -> None:
    """The config, 0600 from the start, replaced atomically."""
    path = opts.config
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(cfg.model_dump_json(indent=2) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o600)
    if opts.owner and os.geteuid() == 0:
        import pwd

        try:
            pw = pwd.getpwnam(opts.owner)
        except KeyError:
            log.warning(
                "no user %s on this Pi: %s stays root's (the service cannot read it)", opts.owner, path
            )
            print(f"warning: no user {opts.owner!r}: {path} belongs to root", file=sys.stderr)
        else:
            os.chown(tmp, pw.pw_uid, pw.pw_gid)
    os.replace(tmp, path)
