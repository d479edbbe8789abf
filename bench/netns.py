"""A private network namespace on this machine for the network-cut scenario (root only).

A veth pair with a private /30: HOST_ADDR on the host side, NS_ADDR inside the namespace.
Nothing is routed anywhere else. `cut()` takes the host side down; `close()` always removes
the pair and the namespace. The defaults are the network-cut test's; the soak passes its own
name, veth prefix and /30 (`soak_netns`), and each test worker its own (`numbered_netns`), so all can
run on one machine at once.
"""

from __future__ import annotations

import os
import subprocess

NS = "stl-bench"
VETH_HOST = "stlb0"
VETH_NS = "stlb1"
HOST_ADDR = "10.254.77.1"
NS_ADDR = "10.254.77.2"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=10)


class Netns:
    def __init__(
        self,
        name: str = NS,
        veth: tuple[str, str] = (VETH_HOST, VETH_NS),
        addrs: tuple[str, str] = (HOST_ADDR, NS_ADDR),
    ) -> None:
        self.name = name
        self.veth_host, self.veth_ns = veth
        self.host_addr, self.ns_addr = addrs
        self.up = False

    def open(self) -> Netns:
        self.close()  # leftovers of a crashed run
        used = _ip("-o", "-4", "addr", "show").stdout
        net = self.host_addr.rsplit(".", 1)[0] + "."
        if f"inet {self.host_addr}/" in used or f"inet {self.ns_addr}/" in used:
            raise RuntimeError(f"{net}x (/30) is already in use on this machine")
        ns, vh, vn = self.name, self.veth_host, self.veth_ns
        try:
            _ip("netns", "add", ns)
            _ip("link", "add", vh, "type", "veth", "peer", "name", vn)
            _ip("link", "set", vn, "netns", ns)
            _ip("addr", "add", f"{self.host_addr}/30", "dev", vh)
            _ip("link", "set", vh, "up")
            _ip("netns", "exec", ns, "ip", "addr", "add", f"{self.ns_addr}/30", "dev", vn)
            _ip("netns", "exec", ns, "ip", "link", "set", vn, "up")
            _ip("netns", "exec", ns, "ip", "link", "set", "lo", "up")
        except (subprocess.CalledProcessError, OSError) as exc:
            self.close()
            err = exc.stderr.strip() if isinstance(exc, subprocess.CalledProcessError) else str(exc)
            raise RuntimeError(f"network namespace not available: {err}") from exc
        self.up = True
        return self

    def prefix(self) -> list[str]:
        """Run a command inside the namespace: prefix + argv."""
        return ["ip", "netns", "exec", self.name]

    def cut(self) -> None:
        _ip("link", "set", self.veth_host, "down")

    def restore(self) -> None:
        """Bring the host side back up after `cut()`."""
        _ip("link", "set", self.veth_host, "up")

    def close(self) -> None:
        _ip("link", "del", self.veth_host, check=False)
        _ip("netns", "del", self.name, check=False)
        self.up = False


def numbered_netns(i: int) -> Netns:
    """Namespace number `i` (0-27) with its own name, veth pair and /30 (10.254.100-127.x), so that
    the test workers that run at once (pytest-xdist, one number each) never share or remove each
    other's."""
    if not 0 <= i < 28:
        raise ValueError(f"namespace number {i} is out of 0-27: run at most 28 test workers")
    return Netns(f"stl-test-{i}", (f"stlt{i}h", f"stlt{i}n"), (f"10.254.{100 + i}.1", f"10.254.{100 + i}.2"))


def soak_netns() -> Netns:
    """A soak's own namespace, veth pair and /30, named from the process id, so soaks run beside
    each other and beside the network-cut test (which uses the defaults): 10.254.128-255.x."""
    k = os.getpid() % 8192
    net = f"10.254.{128 + k // 64}.{(k % 64) * 4}"
    host, ns = net.rsplit(".", 1)[0] + f".{(k % 64) * 4 + 1}", net.rsplit(".", 1)[0] + f".{(k % 64) * 4 + 2}"
    return Netns(f"stl-soak-{k}", (f"stls{k}h", f"stls{k}n"), (host, ns))
