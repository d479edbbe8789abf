"""A private network namespace on this machine for the network-cut scenario (root only).

A veth pair with a private /30: HOST_ADDR on the host side, NS_ADDR inside the namespace.
Nothing is routed anywhere else. `cut()` takes the host side down; `close()` always removes
the pair and the namespace. The defaults are the network-cut test's; the soak passes its own
name, veth prefix and /30 (`SOAK`) so both can run on one machine.
"""

from __future__ import annotations

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


def soak_netns() -> Netns:
    """The soak's own namespace, beside the network-cut test's (which uses the defaults)."""
    return Netns("stl-soak", ("stls0", "stls1"), ("10.254.78.1", "10.254.78.2"))
