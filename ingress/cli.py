"""`alarm-web`: the web ingress for desk phones' alarm keys and the phone panic page."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import ssl
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn

from stilalarm.firmware.outbox import OutboxError
from stilalarm.ingress.app import Ingress, build_app
from stilalarm.ingress.presses import PressBook
from stilalarm.ingress.units import WebUnits
from stilalarm.inventory.derived import WebConfig
from stilalarm.wire.credentials import ConfigError, load_json_model

log = logging.getLogger("alarm-web")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="alarm-web",
        description="The web ingress: desk phones' alarm keys (a URL per phone) and the phone panic "
        "page raise alarms through it, stored in its own durable outbox until the console's receipt.",
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="serve until SIGTERM")
    r.add_argument("--config", required=True, type=Path, help="web.json written by alarm-broker render")
    r.add_argument("--state-dir", required=True, type=Path, help="where the outbox lives (keep it)")
    r.add_argument(
        "--tls-dir", type=Path, help="dir with server.crt and server.key (broker_config/make-ca.sh)"
    )
    r.add_argument(
        "--plain-http",
        action="store_true",
        help="serve plain HTTP (tests, the demo, or phones on an isolated voice VLAN only)",
    )
    r.add_argument("--host", help="listen address (default: [web] listen_host)")
    r.add_argument("--port", type=int, help="listen port (default: [web] port)")
    r.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    r.add_argument(
        "--crash-at",
        choices=("store", "receipt"),
        help="fault injection for tests only: SIGKILL itself at this point of the first alarm",
    )
    c = sub.add_parser("check", help="validate web.json and print what it serves")
    c.add_argument("--config", required=True, type=Path, help="web.json written by alarm-broker render")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        cfg = load_json_model(WebConfig, args.config)
    except ConfigError as exc:
        print(f"alarm-web: {exc}", file=sys.stderr)
        return 2
    if args.cmd == "check":
        live = sum(1 for t in cfg.tokens if not t.revoked)
        print(f"{args.config}: site {cfg.site_id}: {len(cfg.units)} web units, {live} live tokens: OK")
        return 0
    if args.tls_dir is None and not args.plain_http:
        print(
            "alarm-web: pass --tls-dir DIR (server.crt, server.key from broker_config/make-ca.sh), or "
            "--plain-http for tests, the demo or an isolated voice VLAN",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=args.log_level.upper(), format=LOG_FORMAT, stream=sys.stderr)
    return serve(
        cfg, args.state_dir, tls_dir=args.tls_dir, host=args.host, port=args.port, crash_at=args.crash_at
    )


def serve(
    cfg: WebConfig,
    state_dir: Path,
    *,
    tls_dir: Path | None,
    host: str | None,
    port: int | None,
    crash_at: str | None = None,
) -> int:
    """Run the web units and the HTTP server on one asyncio loop until SIGTERM / SIGINT."""
    ssl_args: dict[str, Any] = {}
    if tls_dir is not None:
        crt, key = tls_dir / "server.crt", tls_dir / "server.key"
        for f in (crt, key):
            if not f.is_file():
                print(f"alarm-web: {f} is missing; make it with broker_config/make-ca.sh", file=sys.stderr)
                return 2
        ssl_args = {"ssl_certfile": str(crt), "ssl_keyfile": str(key), "ssl_version": ssl.PROTOCOL_TLS_SERVER}
    holder: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        units: WebUnits = holder["units"]
        units.start()
        log.info("ready: %d web units, serving on port %d", len(units.runtimes), holder["port"])
        yield
        await units.stop()

    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        presses = PressBook(state_dir / "web-presses.sqlite")
    except OSError as exc:
        print(f"alarm-web: cannot use --state-dir {state_dir}: {exc}", file=sys.stderr)
        return 2
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        units = WebUnits(cfg, state_dir, loop, crash_at=crash_at)
    except OutboxError as exc:
        print(f"alarm-web: {exc}", file=sys.stderr)
        return 2
    holder["units"] = units
    holder["port"] = port or cfg.policy.port
    app = build_app(Ingress(cfg, units, presses), lifespan=lifespan)
    config = uvicorn.Config(
        app,
        host=host or cfg.policy.listen_host,
        port=holder["port"],
        access_log=False,  # the access log would hold every phone's token (it is in the URL)
        log_config=None,
        lifespan="on",
        server_header=False,
        limit_concurrency=2000,
        timeout_keep_alive=30,
        h11_max_incomplete_event_size=16 * 1024,
        **ssl_args,
    )
    server = uvicorn.Server(config)
    try:
        loop.run_until_complete(server.serve())
    finally:
        presses.close()
        loop.close()
    return 0 if server.started else 1


if __name__ == "__main__":
    raise SystemExit(main())
