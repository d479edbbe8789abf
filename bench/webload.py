"""A lean HTTP/1.1 load for the `web` scenario: many GETs at once, each on its own connection
(as separate phones would), on raw asyncio streams. httpx's own per-request CPU (~2.5 ms here)
made the bench process itself the bottleneck of a 1,000-request burst."""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import urlsplit


async def _get(host: str, port: int, path: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0
    return status, body


async def burst(url: str, paths: list[str]) -> tuple[list[float], dict[int, int], list[str]]:
    """GET every path at once: latencies (ms), status counts (0: no answer), event ids of 200s."""
    u = urlsplit(url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    lat: list[float] = []
    codes: dict[int, int] = {}
    ids: list[str] = []

    async def one(path: str) -> None:
        t0 = time.perf_counter()
        try:
            status, body = await _get(host, port, path)
            if status == 200:
                ids.append(json.loads(body)["event_id"])
        except (OSError, ValueError, KeyError, IndexError):
            status = 0
        lat.append((time.perf_counter() - t0) * 1000)
        codes[status] = codes.get(status, 0) + 1

    await asyncio.gather(*(one(p) for p in paths))
    return lat, codes, ids
