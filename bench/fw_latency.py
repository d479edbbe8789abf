"""Benchmark: our added time from a real press to the alarm being published.

    .venv/bin/python -m bench.fw_latency [--presses 300]

A MockFactory pin is driven low (NO button, min_hold 50 ms); the runtime runs on an
asyncio loop with a real outbox file (WAL, synchronous=FULL). We measure
publish time - (press time + min_hold): the timer latency, the durable append
(fsync) and encoding; and separately the append alone. The MQTT send itself is
paho's (not included).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from stilalarm.firmware import gpio
from stilalarm.firmware.eventloop import LoopScheduler
from stilalarm.firmware.outbox import Outbox
from stilalarm.firmware.ports import SystemClock
from stilalarm.firmware.runtime import UnitRuntime
from stilalarm.inventory import load_site
from stilalarm.inventory.derived import UnitConfig
from stilalarm.wire.credentials import BrokerCredentials

ROOT = Path(__file__).resolve().parent.parent


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presses", type=int, default=300)
    n = ap.parse_args().presses
    site = load_site(ROOT / "examples" / "site.toml")
    creds = BrokerCredentials(site_id=site.site.id, username="u", password="x" * 16, host="127.0.0.1", port=1)
    cfg = UnitConfig(site_id=site.site.id, unit=site.unit("balie-3"), broker=creds)
    loop = asyncio.new_event_loop()
    factory = gpio.mock_factory()
    published: list[int] = []
    stored: list[int] = []

    class Port:
        def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
            if topic.endswith("/event") and b'"attempt":1,' in payload:  # not the retransmissions
                published.append(time.monotonic_ns())

    with tempfile.TemporaryDirectory() as d:
        rt = UnitRuntime(
            cfg,
            outbox=Outbox(Path(d) / "o.sqlite"),
            port=Port(),
            scheduler=LoopScheduler(loop),
            observe=lambda name, f: stored.append(time.monotonic_ns()) if name == "alarm_stored" else None,
        )
        inputs = gpio.GpioInputs(cfg.unit, rt, loop.call_soon, SystemClock().now_ms, factory=factory)
        rt.start()
        rt.link_up()
        pin = factory.pin(5)
        pressed: list[int] = []

        async def run() -> None:
            for _ in range(n):
                pressed.append(time.monotonic_ns())
                pin.drive_low()
                await asyncio.sleep(0.08)
                pin.drive_high()
                await asyncio.sleep(0.03)

        loop.run_until_complete(run())
        inputs.close()
    hold_ns = 50 * 1_000_000
    added = [(p - (t + hold_ns)) / 1e6 for t, p in zip(pressed, published, strict=True)]
    to_store = [(s - (t + hold_ns)) / 1e6 for t, s in zip(pressed, stored, strict=True)]
    print(f"{n} presses (NO button, min_hold 50 ms), outbox WAL + synchronous=FULL on {d}")
    print(f"press+hold -> durably stored: p50 {pct(to_store, 0.5):.2f} ms  p99 {pct(to_store, 0.99):.2f} ms")
    print(f"press+hold -> published:      p50 {pct(added, 0.5):.2f} ms  p99 {pct(added, 0.99):.2f} ms")
    print(f"                              max {max(added):.2f} ms")
    print("(includes up to 1 ms of millisecond rounding in the input machine's clock)")


if __name__ == "__main__":
    main()
