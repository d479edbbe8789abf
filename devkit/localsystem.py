"""A whole stilalarm on this machine: broker, console service and simulated units as real
processes. The demo, the end-to-end tests and the benchmarks all start the system this way.

`LocalSystem`: one mosquitto and one console service. `ClusterSystem`: the cluster profile's
3-node NATS cluster (`LocalCluster`) and active/standby consoles (`alarm-console serve --ha`).
Both share `System`: the simulated units (`alarm-sim`) and the read-only observer.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import paho.mqtt.client as mqtt

from stilalarm.broker_config.local import LocalBroker, LocalCluster
from stilalarm.devkit.servicerun import ServiceProcess
from stilalarm.inventory.model import Site
from stilalarm.wire.credentials import BrokerCredentials
from stilalarm.wire.identity import client_id as cid_for
from stilalarm.wire.link import Link
from stilalarm.wire.messages import UnitHealth, parse
from stilalarm.wire.topics import Topics

BIN = Path(sys.executable).parent


def script(name: str) -> str:
    """A console script of this install (next to the running interpreter)."""
    path = BIN / name
    return str(path) if path.exists() else name


@dataclass
class Observed:
    """Everything the read-only observer saw: (monotonic time, topic, payload, retained)."""

    items: list[tuple[float, str, bytes, bool]] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def add(self, msg: mqtt.MQTTMessage) -> None:
        with self.cond:
            self.items.append((time.monotonic(), msg.topic, bytes(msg.payload), bool(msg.retain)))
            self.cond.notify_all()

    def wait(
        self, pred: Callable[[str, bytes], bool], timeout: float, what: str, start: int = 0
    ) -> tuple[int, str, bytes]:
        """First message from index `start` on matching pred: (index, topic, payload)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            i = start
            while True:
                while i < len(self.items):
                    _t, topic, payload, _r = self.items[i]
                    if pred(topic, payload):
                        return i, topic, payload
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
                self.cond.wait(left)


class SimProcess:
    """`alarm-sim` as a subprocess: control lines in, JSON lines out."""

    def __init__(self, args: list[str], log: Path) -> None:
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            start_new_session=True,
        )
        self.lines: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="sim-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError:
                continue
            with self._cond:
                self.lines.append(obj)
                self._cond.notify_all()

    def send(self, line: str) -> None:
        """Send one control line (`press UNIT`, `cut UNIT`, ...)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write((line.strip() + "\n").encode())
        self.proc.stdin.flush()

    def mark(self) -> int:
        """Where the next line will be: pass it as `start` to wait only for what comes after."""
        with self._cond:
            return len(self.lines)

    def wait(
        self, pred: Callable[[dict[str, Any]], bool], timeout: float, what: str, start: int = 0
    ) -> dict[str, Any]:
        """First line from index `start` on matching pred."""
        deadline = time.monotonic() + timeout
        with self._cond:
            i = start
            while True:
                while i < len(self.lines):
                    if pred(self.lines[i]):
                        return self.lines[i]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise TimeoutError(f"alarm-sim: timed out waiting for {what}")
                self._cond.wait(min(left, 0.5))

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self._log.close()


class Broker(Protocol):
    """What a `System` needs of its broker: `LocalBroker` (mosquitto) or `LocalCluster` (NATS)."""

    @property
    def dir(self) -> Path:
        """The rendered configs (`alarm-broker render --out`)."""
        ...

    def creds(self, user: str) -> BrokerCredentials: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


B = TypeVar("B", bound=Broker)


class System(Generic[B]):
    """A broker, the simulated units and the observer for a site, in a work dir; the console
    services are the subclass's."""

    def __init__(self, site: Site, site_file: Path, workdir: Path, broker: B) -> None:
        self.site = site
        self.site_file = site_file
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.topics = Topics(site.site.id)
        self.broker = broker
        self.sim: SimProcess | None = None
        """The alarm-sim started last."""
        self.sims: list[SimProcess] = []
        """Every alarm-sim started, all stopped by `stop()`."""
        self.observed = Observed()
        self._observer: Link | None = None

    # -- processes --------------------------------------------------------------
    def start_broker(self) -> None:
        self.broker.start()

    def start_sim(self, units: str = "all", extra: list[str] | None = None) -> SimProcess:
        self.sim = SimProcess(
            [
                script("alarm-sim"),
                "--site",
                str(self.site_file),
                "--broker-dir",
                str(self.broker.dir),
                "--units",
                units,
                "--state-dir",
                str(self.dir / "sim"),
                *(extra or []),
            ],
            self.dir / "sim.log",
        )
        self.sims.append(self.sim)
        return self.sim

    def start_observer(self, clean_session: bool = True) -> Observed:
        """Record everything under the site's topics (read-only user). `clean_session=False`: the
        broker queues what arrives while the observer is reconnecting (QoS1)."""
        cid = cid_for("observer", "localsystem")
        lk = Link(self.broker.creds("observer"), client_id=cid, clean_session=clean_session)
        lk.subscribe_raw(self.topics.everything(), self.observed.add)
        lk.start()
        if not lk.wait_connected(10):
            raise TimeoutError("observer could not connect to the broker")
        self._observer = lk
        return self.observed

    def wait_console_online(self, timeout: float = 15.0) -> None:
        topic = self.topics.console_status()
        self.observed.wait(
            lambda t, p: t == topic and b'"online"' in p, timeout, "the console service to be online"
        )

    def units_online(self, units: list[str]) -> bool:
        """Whether the console's last published health of each of `units` says online."""
        last: dict[str, bool] = {}
        for _m, topic, payload, _r in list(self.observed.items):
            for u in units:
                if topic == self.topics.unitstate(u) and payload:
                    last[u] = parse(UnitHealth, payload).online
        return all(last.get(u) for u in units)

    def stop_consoles(self) -> None:
        """Stop the console services (the subclass's)."""

    def stop(self) -> None:
        for sim in self.sims:
            sim.stop()
        self.stop_consoles()
        if self._observer is not None:
            self._observer.stop()
        self.broker.stop()


class LocalSystem(System[LocalBroker]):
    """Mosquitto + `alarm-console serve` + `alarm-sim` for a site, in a work dir."""

    def __init__(self, site: Site, site_file: Path, workdir: Path, port: int | None = None) -> None:
        super().__init__(site, site_file, workdir, LocalBroker(site, workdir / "broker", port=port))
        self.db = workdir / "console.db"
        self.service = ServiceProcess(site_file, self.db, self.broker.dir, workdir / "console.log")

    def start_console(self, extra: list[str] | None = None) -> None:
        self.service.start(extra)

    @property
    def console(self) -> subprocess.Popen[bytes] | None:
        """The running `alarm-console serve` process (for its pid)."""
        return self.service.proc

    def kill_console(self) -> None:
        """SIGKILL the console service (a crash)."""
        self.service.kill()

    def start_all(self) -> SimProcess:
        """The broker, the observer, the console (until it is online) and alarm-sim with every
        unit (until they are connected): the whole system, as most end-to-end tests want it."""
        self.start_broker()
        self.start_observer()
        self.start_console()
        self.wait_console_online(20)
        sim = self.start_sim()
        sim.wait(lambda e: e.get("event") == "ready", 30, "simulated units connected")
        return sim

    def stop_console(self) -> None:
        self.service.terminate()

    def stop_consoles(self) -> None:
        self.stop_console()

    def __enter__(self) -> LocalSystem:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ClusterSystem(System[LocalCluster]):
    """The cluster profile: a 3-node `LocalCluster` + active/standby `alarm-console serve --ha NAME`
    (each its own database and log, `NAME.db` / `NAME.log`) + `alarm-sim`, in a work dir. The
    client configs point at the first node (units and TUIs do not take address lists yet)."""

    def __init__(self, site: Site, site_file: Path, workdir: Path) -> None:
        super().__init__(site, site_file, workdir, LocalCluster(site, workdir / "cluster"))
        self.consoles: dict[str, ServiceProcess] = {}

    def start_observer(self, clean_session: bool = False) -> Observed:
        """As `System.start_observer`, with a persistent session by default: while the streams move
        after a node's loss, the observer's node may drop its connection; nothing is missed."""
        return super().start_observer(clean_session)

    def console(self, name: str) -> ServiceProcess:
        """Console NAME (started by `start_console`)."""
        return self.consoles[name]

    def start_console(self, name: str, ttl: float = 3.0) -> ServiceProcess:
        """Start (or restart) console NAME: `serve --ha NAME --ha-ttl TTL`; it begins as a standby."""
        svc = self.consoles.get(name)
        if svc is None:
            svc = ServiceProcess(
                self.site_file, self.dir / f"{name}.db", self.broker.dir, self.dir / f"{name}.log"
            )
            self.consoles[name] = svc
        svc.start(["--ha", name, "--ha-ttl", f"{ttl:g}"])
        return svc

    def wait_log(self, name: str, text: str, timeout: float, what: str) -> None:
        """Until console NAME's log (since its last start) contains `text`."""
        svc = self.consoles[name]
        deadline = time.monotonic() + timeout
        while text not in svc.log():
            if svc.proc is not None and svc.proc.poll() is not None:
                raise RuntimeError(f"console {name} exited with {svc.proc.returncode} (log {svc.log_path})")
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout} s waiting for {what} (log {svc.log_path})")
            time.sleep(0.05)

    def stop_consoles(self) -> None:
        for svc in self.consoles.values():
            svc.kill()

    def __enter__(self) -> ClusterSystem:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
