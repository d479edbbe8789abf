"""A private network namespace on this machine for the network-cut scenario (root only).

A veth pair with a private /30: HOST_ADDR on the host side, NS_ADDR inside the namespace.
Nothing is routed anywhere else. `cut()` takes the host side down; `close()` always removes
the pair and the namespace.
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
    def __init__(self) -> None:
        self.up = False

    def open(self) -> Netns:
        self.close()  # leftovers of a crashed run
        used = _ip("-o", "-4", "addr", "show").stdout
        if "10.254.77." in used:
            raise RuntimeError("10.254.77.0/30 is already in use on this machine")
        try:
            _ip("netns", "add", NS)
            _ip("link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_NS)
            _ip("link", "set", VETH_NS, "netns", NS)
            _ip("addr", "add", f"{HOST_ADDR}/30", "dev", VETH_HOST)
            _ip("link", "set", VETH_HOST, "up")
            _ip("netns", "exec", NS, "ip", "addr", "add", f"{NS_ADDR}/30", "dev", VETH_NS)
            _ip("netns", "exec", NS, "ip", "link", "set", VETH_NS, "up")
            _ip("netns", "exec", NS, "ip", "link", "set", "lo", "up")
        except (subprocess.CalledProcessError, OSError) as exc:
            self.close()
            err = exc.stderr.strip() if isinstance(exc, subprocess.CalledProcessError) else str(exc)
            raise RuntimeError(f"network namespace not available: {err}") from exc
        self.up = True
        return self

    def prefix(self) -> list[str]:
        """Run a command inside the namespace: prefix + argv."""
        return ["ip", "netns", "exec", NS]

    def cut(self) -> None:
        _ip("link", "set", VETH_HOST, "down")

    def restore(self) -> None:
        """Bring the host side back up after `cut()`."""
        _ip("link", "set", VETH_HOST, "up")

    def close(self) -> None:
        _ip("link", "del", VETH_HOST, check=False)
        _ip("netns", "del", NS, check=False)
        self.up = False
