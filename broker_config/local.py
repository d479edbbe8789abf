"""Run a real mosquitto with the project's rendered config (development, demo, tests, bench)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from stilalarm.broker_config.render import RenderOptions, render
from stilalarm.inventory.model import Site
from stilalarm.wire.credentials import BrokerCredentials
from stilalarm.wire.topics import Topics

if TYPE_CHECKING:
    from stilalarm.console.ha.jetstream import ClusterLogCredentials

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


NATS_HINT = (
    "nats-server is not installed: run `sudo apt-get install -y nats-server` (Debian 12: 2.9.10), "
    "or scripts/ensure-nats.sh, which `make test` and CI run"
)


def find_nats_server() -> str:
    """Path of the nats-server binary, or BrokerError with how to install it."""
    path = shutil.which("nats-server") or next(
        (p for p in ("/usr/sbin/nats-server", "/usr/bin/nats-server") if os.path.exists(p)), None
    )
    if path is None:
        raise BrokerError(NATS_HINT)
    return path


def _free_ports(n: int) -> list[int]:
    """n distinct free loopback ports (never 4222 or 1883)."""
    ports: list[int] = []
    while len(ports) < n:
        p = free_port()
        if p not in ports and p not in (4222, 1883):
            ports.append(p)
    return ports


def _on_loopback(site: Site, ports: list[int], tls: bool) -> Site:
    """`site` with its [cluster] nodes on 127.0.0.1 and `ports` (mqtt, route, nats per node)."""
    nodes = tuple(
        n.model_copy(
            update={
                "host": "127.0.0.1",
                "mqtt_port": ports[3 * i],
                "route_port": ports[3 * i + 1],
                "nats_port": ports[3 * i + 2],
            }
        )
        for i, n in enumerate(site.cluster.nodes)
    )
    broker = site.broker.model_copy(update={"use_tls": tls})
    return site.model_copy(
        update={"cluster": site.cluster.model_copy(update={"nodes": nodes}), "broker": broker}
    )


class LocalCluster:
    """A 3-node (site.cluster) NATS cluster with JetStream and MQTT on loopback, free ports, the
    site's generated config (`--profile cluster`); each node can be killed (-9) and restarted.

    `nodes[i].mqtt_port` / `endpoint(i)` is each node's MQTT address; `creds(user, node=i)` pins a
    login to one node, `creds(user, node=None)` lists every node as rendered."""

    def __init__(self, site: Site, workdir: Path, tls_dir: Path | None = None) -> None:
        """`tls_dir` (ca.crt, server.crt, server.key valid for 127.0.0.1, from make-ca.sh): MQTT and
        the routes with TLS, as in production; without it plain, loopback only."""
        from stilalarm.broker_config.cluster import ClusterOptions, render_cluster

        self._setup(
            _on_loopback(site, _free_ports(3 * len(site.cluster.nodes)), tls_dir is not None),
            workdir,
            tls_dir,
        )
        render_cluster(self.site, ClusterOptions(out=workdir, tls_dir=tls_dir))

    def _setup(self, site: Site, workdir: Path, tls_dir: Path | None) -> None:
        """The state of a cluster of `site`'s nodes (already on loopback ports) in `workdir`."""
        self.site = site
        self.dir = workdir
        self.nodes = site.cluster.nodes
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * len(self.nodes)
        self._tls_dir = tls_dir

    def site_dir(self, site_id: str | None = None) -> Path:
        """The directory with a site's client configs (one site: the cluster's own)."""
        if site_id not in (None, self.site.site.id):
            raise BrokerError(f"site {site_id!r} is not on this cluster (it serves {self.site.site.id})")
        return self.dir

    @property
    def port(self) -> int:
        """The first node's MQTT port (the rendered client configs list every node, this one first)."""
        return self.nodes[0].mqtt_port

    def endpoint(self, i: int) -> tuple[str, int]:
        """Node i's MQTT host and port."""
        return self.nodes[i].host, self.nodes[i].mqtt_port

    def log_path(self, i: int) -> Path:
        return self.dir / "nodes" / self.nodes[i].name / "nats.log"

    def creds(self, user: str, node: int | None = 0, site_id: str | None = None) -> BrokerCredentials:
        """Credentials of a rendered user (of site `site_id`, default the first) pointing at node
        `node` (0-based) only; `node=None`: as rendered, every node's address (the first preferred)."""
        import json

        from stilalarm.broker_config.acl import CONSOLE_USER, OBSERVER_USER, WEB_USER

        d = self.site_dir(site_id)
        if user == WEB_USER:
            c = BrokerCredentials.model_validate(json.loads((d / "web.json").read_text())["broker"])
        elif user in (CONSOLE_USER, OBSERVER_USER):
            c = BrokerCredentials.model_validate_json((d / f"{user}.json").read_text())
        else:
            kind, _, ident = user.partition("-")
            data = json.loads((d / ("units" if kind == "unit" else "people") / f"{ident}.json").read_text())
            c = BrokerCredentials.model_validate(data["broker"])
        if node is None:
            return c
        return c.at((self.nodes[node].host, self.nodes[node].mqtt_port))

    def log_creds(self, site_id: str | None = None) -> ClusterLogCredentials:
        """The consoles' log login (`console-log.json`): every node's NATS client address."""
        from stilalarm.console.ha.jetstream import ClusterLogCredentials

        return ClusterLogCredentials.model_validate_json(
            (self.site_dir(site_id) / "console-log.json").read_text()
        )

    def start_node(self, i: int, timeout: float = 20.0) -> None:
        """Start node i and wait until its MQTT listener accepts connections."""
        proc = self.procs[i]
        if proc is not None and proc.poll() is None:
            return
        exe = find_nats_server()
        node = self.nodes[i]
        for p in (node.mqtt_port, node.route_port, node.nats_port):
            if port_open(p):
                raise BrokerError(f"port {p} is already in use")
        conf = self.dir / "nodes" / node.name / "nats.conf"
        log = self.log_path(i).open("ab")
        self.procs[i] = subprocess.Popen(
            [exe, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs[i]
            if proc is not None and proc.poll() is not None:
                text = self.log_path(i).read_text(errors="replace")
                raise BrokerError(f"nats-server {node.name} exited with {proc.returncode}: {text[-2000:]}")
            if port_open(node.mqtt_port):
                return
            time.sleep(0.05)
        raise BrokerError(f"nats-server {node.name} did not listen on {node.mqtt_port} within {timeout} s")

    def start(self, timeout: float = 60.0) -> None:
        """Start every node, then wait until the cluster serves a QoS1 subscription (JetStream has
        elected its leaders and created the MQTT streams).

        The first MQTT client makes a node create the MQTT streams; before JetStream's metadata
        leader is elected that request waits out nats-server's 4 s timeout and is tried again
        only on a later connect. So the readiness probe waits until every node's log names the
        metadata leader first: a start takes about 3.5 s here instead of 8.3 s."""
        before = [self._log_size(i) for i in range(len(self.nodes))]
        for i in range(len(self.nodes)):
            self.start_node(i)
        deadline = time.monotonic() + timeout
        while not self._meta_leader_logged(before) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.wait_ready(max(1.0, deadline - time.monotonic()))

    def _log_size(self, i: int) -> int:
        try:
            return self.log_path(i).stat().st_size
        except OSError:
            return 0

    def _meta_leader_logged(self, since: list[int]) -> bool:
        """Whether every node's log, after byte `since[i]`, says it knows JetStream's metadata leader."""
        for i in range(len(self.nodes)):
            try:
                with self.log_path(i).open("rb") as f:
                    f.seek(since[i])
                    if b"metadata leader" not in f.read():
                        return False
            except OSError:
                return False
        return True

    def wait_ready(self, timeout: float = 60.0, node: int = 0, site_id: str | None = None) -> None:
        """Until a QoS1 subscription of site `site_id`'s observer (default the first site) on node
        `node` is granted (or BrokerError)."""
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        from stilalarm.broker_config.acl import OBSERVER_USER
        from stilalarm.wire.identity import client_id as cid_for
        from stilalarm.wire.identity import random_suffix

        c = self.creds(OBSERVER_USER, node, site_id)
        topic = f"{Topics(site_id or self.site.site.id).base}/console/status"
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            granted: list[bool] = []
            cl = mqtt.Client(
                CallbackAPIVersion.VERSION2, client_id=cid_for(OBSERVER_USER, random_suffix("ready"))
            )
            cl.username_pw_set(c.username, c.password)
            if c.tls and c.ca_file:
                cl.tls_set(ca_certs=c.ca_file)
            cl.on_subscribe = lambda _c, _u, _m, rc, _p, g=granted: g.append(not rc[0].is_failure)
            try:
                cl.connect(c.host, c.port, keepalive=10)
                cl.loop_start()
                cl.subscribe(topic, 1)
                t_end = time.monotonic() + 5
                while not granted and time.monotonic() < t_end:
                    time.sleep(0.05)
                if granted and granted[0]:
                    return
                last = "SUBACK failure" if granted else "no SUBACK"
            except OSError as exc:
                last = str(exc)
            finally:
                cl.loop_stop()
                cl.disconnect()
            time.sleep(0.3)
        raise BrokerError(f"the cluster was not ready within {timeout} s ({last})")

    def kill_node(self, i: int) -> None:
        """SIGKILL node i: a power cut or OOM kill."""
        proc = self.procs[i]
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        self.procs[i] = None

    def stop_node(self, i: int, timeout: float = 10.0) -> None:
        proc = self.procs[i]
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs[i] = None

    def restart_node(self, i: int) -> None:
        self.kill_node(i)
        self.start_node(i)

    def pid(self, i: int) -> int | None:
        proc = self.procs[i]
        return proc.pid if proc is not None else None

    def kill(self) -> None:
        for i in range(len(self.nodes)):
            self.kill_node(i)

    def stop(self) -> None:
        for i in range(len(self.nodes)):
            self.stop_node(i)

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LocalRegion(LocalCluster):
    """Many sites on one 3-node LocalCluster (`alarm-broker region`, broker_config/region.py): every
    site on the same free ports, an account each; `site_dir(id)` is a site's directory (console.json,
    console-log.json, units/, people/) and `creds(user, node, site_id)` a site's login."""

    def __init__(self, sites: list[Site], workdir: Path, tls_dir: Path | None = None) -> None:
        from stilalarm.broker_config.cluster import ClusterOptions
        from stilalarm.broker_config.region import render_region

        ports = _free_ports(3 * len(sites[0].cluster.nodes))
        self.sites = [_on_loopback(s, ports, tls_dir is not None) for s in sites]
        self._setup(self.sites[0], workdir, tls_dir)
        render_region(self.sites, ClusterOptions(out=workdir, tls_dir=tls_dir))

    def add_site(self, site: Site, timeout: float = 60.0) -> None:
        """Render the region again with `site` too (its [cluster] on this region's ports), have
        every running node reload (SIGHUP), as an operator adds a site to a running region, and
        wait until every running node serves the new site (its login accepted, a QoS1 subscription
        granted: the account's MQTT streams exist). A node applies a reload in its own time."""
        from stilalarm.broker_config.cluster import ClusterOptions
        from stilalarm.broker_config.region import render_region

        self.sites.append(site.model_copy(update={"cluster": self.site.cluster, "broker": self.site.broker}))
        render_region(self.sites, ClusterOptions(out=self.dir, tls_dir=self._tls_dir))
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        for i, proc in enumerate(self.procs):
            if proc is not None and proc.poll() is None:
                self.wait_ready(max(1.0, deadline - time.monotonic()), node=i, site_id=site.site.id)

    def remove_site(self, site_id: str, then: Callable[[], None] = lambda: None) -> list[str]:
        """Take `site_id` out of the running region as an operator does: `alarm-broker region
        --remove` (its logins stop), every running node reloads (SIGHUP), `then()`, the same render
        again (its streams deleted, its accounts out), every node reloads again. The streams
        deleted, as the command prints them (`<login>: <stream>`)."""
        from stilalarm.broker_config.cluster import ClusterOptions
        from stilalarm.broker_config.region import render_region

        self.sites = [s for s in self.sites if s.site.id != site_id]
        opts = ClusterOptions(out=self.dir, tls_dir=self._tls_dir)
        deleted: list[str] = []
        for step in (1, 2):
            deleted = render_region(self.sites, opts, frozenset({site_id})).deleted
            for proc in self.procs:
                if proc is not None and proc.poll() is None:
                    proc.send_signal(signal.SIGHUP)
            if step == 1:
                then()
        return deleted

    def site_dir(self, site_id: str | None = None) -> Path:
        from stilalarm.broker_config.region import site_dir

        sid = site_id or self.site.site.id
        if sid not in {s.site.id for s in self.sites}:
            raise BrokerError(f"site {sid!r} is not in this region")
        return site_dir(self.dir, sid)
