"""A bare paho process, the baseline for whole-process figures (run by the benchmark).

    python -m bench.sink --broker-dir DIR --user observer --topic T [--topic T2] [--count N]
    python -m bench.sink --broker-dir DIR --user unit-X --will TOPIC   (connect with a will, then idle)

Subscribes (QoS1) and counts. With `--count N` it prints one JSON line
`{"n": N, "first": t, "last": t}` (wall times) after N messages and exits; without, it idles
until killed (the benchmark reads its CPU and RSS from /proc). It prints `{"ready": t}` once
connected and subscribed.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from stilalarm.wire.credentials import BrokerCredentials
from stilalarm.wire.identity import client_id as cid_for
from stilalarm.wire.link import Link


def creds(broker_dir: Path, user: str) -> BrokerCredentials:
    if user in ("console", "observer"):
        return BrokerCredentials.model_validate_json((broker_dir / f"{user}.json").read_text())
    kind, _, ident = user.partition("-")
    data = json.loads((broker_dir / ("units" if kind == "unit" else "people") / f"{ident}.json").read_text())
    return BrokerCredentials.model_validate(data["broker"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--broker-dir", type=Path, required=True)
    ap.add_argument("--user", default="observer")
    ap.add_argument("--topic", action="append", default=[])
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--will", default=None, help="publish this payload's will topic (b'bench-will')")
    ap.add_argument("--keepalive", type=int, default=10)
    ap.add_argument("--host", default=None, help="override the broker host (network namespace runs)")
    ap.add_argument("--port", type=int, default=None)
    a = ap.parse_args(argv)
    c = creds(a.broker_dir, a.user)
    if a.host or a.port:
        c = c.at((a.host or c.host, a.port or c.port))
    will = (a.will, b"bench-will") if a.will else None
    n = [0]
    first = [0.0]
    last = [0.0]
    done = threading.Event()

    def on(_msg: mqtt.MQTTMessage) -> None:
        if n[0] == 0:
            first[0] = time.time()
        n[0] += 1
        last[0] = time.time()
        if a.count and n[0] >= a.count:
            done.set()

    cid = cid_for(c.username, "bench-sink")
    lk = Link(c, client_id=cid, clean_session=True, will=will, keepalive=a.keepalive)
    for t in a.topic:
        lk.subscribe_raw(t, on)
    lk.start()
    if not lk.wait_connected(20):
        print(json.dumps({"error": "no connection"}), flush=True)
        return 1
    print(json.dumps({"ready": time.time()}), flush=True)
    if a.count:
        done.wait()
        print(json.dumps({"n": n[0], "first": first[0], "last": last[0]}), flush=True)
        lk.stop()
        return 0
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
