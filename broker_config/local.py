"""Run a real mosquitto with the project's rendered config (development, demo, tests, bench)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from stilalarm.broker_config.render import RenderOptions, render
from stilalarm.inventory.model import Site
from stilalarm.wire.credentials import BrokerCredentials

MOSQUITTO_HINT = (
    "mosquitto is not installed: run `sudo apt-get install -y mosquitto mosquitto-clients` "
    "(Debian / Raspberry Pi OS), or `make test`, which installs it"
)


def high_publish_limit(site: Site, per_login: int = 1_000_000) -> Site:
    """`site` with the broker's per-login publish limit raised out of the way.

    For measurements and tests of what lies behind the broker (its durability, the console's
    own intake limit) that publish thousands of messages from one login on purpose.
    """
    broker = site.broker.model_copy(
        update={"publish_burst": per_login, "publish_rate_per_s": float(per_login)}
    )
    return site.model_copy(update={"broker": broker})


class BrokerError(RuntimeError):
    """The local broker could not be started; the message says what to do."""


def find_mosquitto() -> str:
    """Path of the mosquitto binary, or BrokerError with how to install it."""
    path = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.path.exists(p)), None
    )
    if path is None:
        raise BrokerError(MOSQUITTO_HINT)
    return path


def free_port() -> int:
    """A TCP port on loopback nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on host:port."""
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


class LocalBroker:
    """A mosquitto process on loopback with the site's generated config; restartable, killable."""

    def __init__(
        self, site: Site, workdir: Path, port: int | None = None, tls_dir: Path | None = None
    ) -> None:
        self.site = site
        self.dir = workdir
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "mosquitto.log"
        render(self.site, RenderOptions(out=workdir, port=self.port, tls_dir=tls_dir, log_file=self.log_path))

    def creds(self, user: str) -> BrokerCredentials:
        """Credentials of a rendered user: 'console', 'observer', 'web', 'unit-X', 'person-P'."""
        from stilalarm.broker_config.acl import CONSOLE_USER, OBSERVER_USER, WEB_USER

        if user == WEB_USER:
            import json

            web = json.loads((self.dir / "web.json").read_text())
            return BrokerCredentials.model_validate(web["broker"])
        if user in (CONSOLE_USER, OBSERVER_USER):
            path = self.dir / f"{user}.json"
            return BrokerCredentials.model_validate_json(path.read_text())
        kind, _, ident = user.partition("-")
        import json

        data = json.loads(
            (self.dir / ("units" if kind == "unit" else "people") / f"{ident}.json").read_text()
        )
        return BrokerCredentials.model_validate(data["broker"])

    def start(self, timeout: float = 10.0) -> None:
        """Start mosquitto and wait until it accepts connections."""
        if self.proc is not None and self.proc.poll() is None:
            return
        exe = find_mosquitto()
        if port_open(self.port):
            raise BrokerError(f"port {self.port} is already in use; choose another with --port")
        self.proc = subprocess.Popen(
            [exe, "-c", str(self.dir / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                log = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
                raise BrokerError(f"mosquitto exited with {self.proc.returncode}: {err}{log[-2000:]}")
            if port_open(self.port):
                return
            time.sleep(0.02)
        self.kill()
        raise BrokerError(f"mosquitto did not listen on port {self.port} within {timeout} s")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop gracefully (SIGTERM: mosquitto saves its database)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close()

    def kill(self) -> None:
        """SIGKILL: the fault a power cut or OOM kill causes."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close()

    def _close(self) -> None:
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None

    def reload(self) -> None:
        """SIGHUP: mosquitto reads its password file and ACL again (after a re-render); clients stay
        connected."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGHUP)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> LocalBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
