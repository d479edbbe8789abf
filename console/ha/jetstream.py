"""The HA console's NATS client layer: the replicated facts log (a JetStream stream) and the lease
(a JetStream KV entry), with blocking, time-bounded calls for ordinary threads.

nats-py runs on its own asyncio loop in a daemon thread; every public method hands a coroutine to
that loop and waits at most a bounded time for it. Errors are never nats-py's own: a refusal because
another writer got there first is `LogFenced`, anything else the cluster could not confirm is
`LogUnavailable` (its message says why).

The log (docs/HA.md): stream `STILALARM_FACTS_<site>`, one subject `stilalarm.<site>.facts`, file
storage, `replicas` copies, no limits (nothing is ever dropped: a full disk refuses new records,
`discard: new`), deletes and purges denied. A record is one committed batch of the console's
database writes; one larger than a message may be (the cluster's max_payload,
`stilalarm.broker_config.render.MESSAGE_SIZE_LIMIT`) is split into parts stored at consecutive sequences,
each fenced on the previous one's sequence, so a record's parts are never interleaved with another
writer's. A record whose writer died between parts is never returned: the reader skips it once
another record starts after it, and waits while it is at the tail (its writer may retry: the parts
carry `Nats-Msg-Id` `<record id>:<i>`, deduplicated by the stream for its duplicate window, 2 min).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import math
import re
import ssl
import threading
import zlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext, api
from nats.js.kv import KeyValue
from pydantic import BaseModel, ConfigDict, Field

from stilalarm.wire.jetstream import NatsLogin, NoAnswer, describe, run_job
from stilalarm.wire.streams import (
    MQTT_MSGS_STREAM,
    MQTT_MSGS_SUBJECTS,
    facts_subject,
    lease_bucket,
    presence_subject,
    snapshot_stream,
    snapshot_subject,
    stream_name,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

WRONG_LAST_SEQUENCE = 10071
"""JetStream's JSStreamWrongLastSequenceErrF: the expected last sequence is not the stream's."""
WRONG_LAST_SEQUENCE_CONSTANT = 10164
"""The same refusal from newer servers (JSStreamWrongLastSequenceConstantErr)."""
STREAM_NOT_FOUND = 10059
MESSAGE_NOT_FOUND = 10037

H_SNAPSHOT = "Stilalarm-Snapshot"
"""A snapshot part's header: the log sequence the snapshot's database had applied."""
H_DIGEST = "Stilalarm-Sha256"
H_RECORD = "Stilalarm-Record"
H_PART = "Stilalarm-Part"
H_PARTS = "Stilalarm-Parts"
HEADER_ROOM = 1024
"""Bytes of a part's message left for its headers (subject, ids, sequences: under 400 bytes)."""
LEASE_KEY = "active"
RECORD_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")


class LogUnavailable(Exception):
    """The cluster could not confirm (no quorum, timeout, not connected); the message says why."""


class LogGap(LogUnavailable):
    """The records after this database's log sequence were compacted away (docs/HA.md, Retention):
    restore the newest snapshot (`ClusterLog.get_snapshot`), then follow the log from its sequence."""

    def __init__(self, after_seq: int, first_seq: int) -> None:
        super().__init__(
            f"the log starts at record {first_seq}; records {after_seq + 1}-{first_seq - 1} were compacted "
            "into a snapshot: restore it"
        )
        self.after_seq = after_seq
        self.first_seq = first_seq


class LogFenced(Exception):
    """Refused: the stream's last sequence (or the KV revision) is not the expected one: another
    writer got there first."""


class QueueLimits(BaseModel):
    """What the console sets on the site's queued QoS1 messages (nats-server's `$MQTT_msgs` stream),
    rendered from site.toml's [cluster] (`stilalarm.broker_config.cluster.queue_limits`; docs/HA.md,
    item 13)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_topic: int = Field(ge=1, description="Queued messages kept per MQTT topic; the oldest go first.")
    max_bytes: int = Field(ge=1, description="Bytes all queued messages of the site may use together.")
    replicas: int = Field(
        ge=1, le=5, description="The stream's replicas when the console creates it (mqtt stream_replicas)."
    )


class ClusterLogCredentials(BaseModel):
    """How a console reaches the cluster's log (`DIR/console-log.json`, written by
    `alarm-broker render --profile cluster`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    site_id: str = Field(
        min_length=1, description="The site's id: names the log's stream and the lease bucket."
    )
    servers: list[str] = Field(
        min_length=1,
        description="Every node's NATS client address, nats://host:port (tls://host:port with TLS); "
        "the client reconnects across them.",
    )
    username: str = Field(min_length=1, description="The consoles' log login (console-log).")
    password: str = Field(min_length=1, description="Its password (secrets.json).")
    ca_file: str | None = Field(
        default=None, description="The site CA's certificate: TLS to the nodes when set, plain otherwise."
    )
    mqtt_queue: QueueLimits | None = Field(
        default=None,
        description="Limits of the site's queued QoS1 messages, set by the console at start (absent in "
        "a console-log.json rendered before 2026-12: render the cluster again).",
    )


@dataclass(frozen=True)
class _Part:
    record_id: str
    index: int
    count: int
    data: bytes


async def limit_queue(js: JetStreamContext, q: QueueLimits | None, timeout_s: float) -> str | None:
    """Bound the site's queued QoS1 messages (`$MQTT_msgs`): per topic and in bytes, the oldest
    dropped first (a unit's outbox sends an unreceipted event again). Created here with
    nats-server's own config when no MQTT client made it yet. A refusal is logged and returned
    (what to fix), not raised: a console without the limits still serves alarms (fail open); no
    answer raises (retry). None: the limits are in place."""
    if q is None:
        log.error("cluster: %s", NO_QUEUE_LIMITS)
        return NO_QUEUE_LIMITS
    limits = {"max_msgs_per_subject": q.per_topic, "max_bytes": q.max_bytes, "discard": api.DiscardPolicy.OLD}
    try:
        try:
            cfg = (await js.stream_info(MQTT_MSGS_STREAM)).config
        except nats.js.errors.NotFoundError:
            await js.add_stream(
                api.StreamConfig(
                    name=MQTT_MSGS_STREAM,
                    subjects=[MQTT_MSGS_SUBJECTS],
                    storage=api.StorageType.FILE,
                    retention=api.RetentionPolicy.INTEREST,
                    num_replicas=q.replicas,
                    **limits,  # type: ignore[arg-type]
                )
            )
            log.info("cluster: created %s with %s", MQTT_MSGS_STREAM, _limits_text(q))
            return None
        if (cfg.max_msgs_per_subject, cfg.max_bytes, cfg.discard) == tuple(limits.values()):
            return None
        await js.update_stream(dataclasses.replace(cfg, **limits))  # type: ignore[arg-type]
        log.warning("cluster: limited %s to %s", MQTT_MSGS_STREAM, _limits_text(q))
        return None
    except nats.js.errors.APIError as exc:
        problem = (
            f"the cluster refused the limits {_limits_text(q)} ({describe(exc, timeout_s)}): lower "
            "[cluster] queued_store_percent or raise max_file_store_mb, render again, restart the consoles"
        )
        log.error(
            "cluster: could not limit the queued QoS1 messages (%s): %s. One unit's login can fill the "
            "nodes' store until this is fixed (docs/HA.md, item 13)",
            MQTT_MSGS_STREAM,
            problem,
        )
        return problem


def set_queue_limits(
    creds: ClusterLogCredentials, wait_s: float = 30.0, timeout_s: float = 2.0
) -> str | None:
    """`limit_queue` on a connection of its own (the console that became active, `serve` without
    --ha on a cluster): connect with the console-log login, set the limits, close; retried until
    `wait_s`. None when the limits are in place, else what is wrong (logged: a refusal by
    `limit_queue`, no answer in time here)."""
    login = NatsLogin(
        tuple(creds.servers),
        creds.username,
        creds.password,
        creds.ca_file,
        f"stilalarm-console-limits-{creds.site_id}",
    )
    try:
        return run_job(
            login,
            lambda js: limit_queue(js, creds.mqtt_queue, timeout_s),
            wait_s=wait_s,
            timeout_s=timeout_s,
            on_retry=lambda why: log.debug("cluster: queue limits not set yet (%s)", why),
        )
    except NoAnswer as exc:  # never fatal: the console serves alarms without them
        problem = (
            f"no answer from the cluster within {wait_s:.0f} s ({exc.last}): check the nodes and "
            "console-log.json, then restart the console"
        )
        log.error(
            "cluster: could not set the limits of the queued QoS1 messages: %s; one unit's login can "
            "fill the nodes' store until a console sets them (docs/HA.md, item 13)",
            problem,
        )
        return problem


NO_QUEUE_LIMITS = (
    "console-log.json sets no limits on queued QoS1 messages, so one unit's login can fill the "
    "nodes' store (docs/HA.md, item 13): render the cluster again (alarm-broker render --profile cluster)"
)


def _limits_text(q: QueueLimits) -> str:
    return f"{q.per_topic} per topic and {q.max_bytes // 1024} KiB in all, the oldest dropped first"


def _fenced(exc: BaseException) -> bool:
    return isinstance(exc, nats.js.errors.APIError) and exc.err_code in (
        WRONG_LAST_SEQUENCE,
        WRONG_LAST_SEQUENCE_CONSTANT,
    )


class ClusterLog:
    """The facts log and the lease of one site on the cluster; blocking calls, safe from any thread."""

    def __init__(self, creds: ClusterLogCredentials, *, timeout_s: float = 2.0, replicas: int = 3) -> None:
        self.creds = creds
        self.timeout_s = timeout_s
        self.replicas = replicas
        self.stream = stream_name(creds.site_id)
        self.subject = facts_subject(creds.site_id)
        self.bucket = lease_bucket(creds.site_id)
        self.snap_stream = snapshot_stream(creds.site_id)
        self.snap_subject = snapshot_subject(creds.site_id)
        self.presence = presence_subject(creds.site_id)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._kv: KeyValue | None = None
        self._wake: asyncio.Event | None = None
        self._last_error = ""

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, wait_s: float = 30.0) -> None:
        """Connect (reconnecting forever across the servers afterwards) and make sure the stream and
        the lease bucket exist; LogUnavailable if that is not done within `wait_s`."""
        if self._nc is not None:
            return
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._thread = threading.Thread(target=run, name=f"cluster-log-{self.creds.site_id}", daemon=True)
        self._thread.start()
        ready.wait()
        self._loop = loop
        try:
            self._call(self._start(wait_s), wait_s + self.timeout_s + 1.0, "start")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the connection and stop the loop thread (idempotent)."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        nc, self._nc = self._nc, None
        if nc is not None:
            fut = asyncio.run_coroutine_threadsafe(nc.close(), loop)
            with contextlib.suppress(Exception):
                fut.result(self.timeout_s + 1.0)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(self.timeout_s + 1.0)
        if not loop.is_running():
            loop.close()
        self._js = self._kv = None
        self._wake = None

    @property
    def connected_server(self) -> str | None:
        """host:port of the node the client is connected to right now (None while reconnecting)."""
        nc = self._nc
        if nc is None or not nc.is_connected or nc.connected_url is None:
            return None
        return str(nc.connected_url.netloc)

    def __enter__(self) -> ClusterLog:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, coro: Coroutine[Any, Any, T], bound_s: float, what: str) -> T:
        """Run `coro` on the loop and wait at most `bound_s`; nats-py's errors become ours."""
        loop = self._loop
        if loop is None:
            coro.close()
            raise LogUnavailable(f"{what}: not started (call start() first) or closed")
        fut = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return fut.result(bound_s)
        except (LogFenced, LogUnavailable):
            raise
        except Exception as exc:
            if not fut.done():  # our bound, not nats-py's (both are TimeoutError in Python 3.11)
                fut.cancel()
                raise LogUnavailable(
                    f"{what}: no answer within {bound_s:.1f} s (no quorum, or unreachable)"
                ) from None
            raise LogUnavailable(f"{what}: {describe(exc, self.timeout_s)}") from exc

    # -- on the loop -------------------------------------------------------------------------
    async def _on_error(self, exc: Exception) -> None:
        self._last_error = f"{type(exc).__name__}: {exc}"
        log.debug("cluster log connection: %s", self._last_error)

    async def _on_disconnected(self) -> None:
        log.info("cluster log: disconnected, reconnecting")

    async def _on_reconnected(self) -> None:
        nc = self._nc
        log.info(
            "cluster log: reconnected to %s", nc.connected_url.netloc if nc and nc.connected_url else "?"
        )

    async def _start(self, wait_s: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        tls = ssl.create_default_context(cafile=self.creds.ca_file) if self.creds.ca_file else None
        nc = NATS()
        try:
            await asyncio.wait_for(
                nc.connect(
                    servers=list(self.creds.servers),
                    user=self.creds.username,
                    password=self.creds.password,
                    tls=tls,
                    name=f"stilalarm-console-log-{self.creds.site_id}",
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,  # type: ignore[arg-type]  # nats-py annotates int, takes float
                    connect_timeout=max(1, math.ceil(self.timeout_s)),
                    ping_interval=5,  # a node lost without a FIN (power cut) is noticed in ~10-15 s
                    max_outstanding_pings=2,
                    no_echo=True,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                ),
                max(0.1, deadline - loop.time()),
            )
        except TimeoutError:
            with contextlib.suppress(Exception):
                await nc.close()
            raise LogUnavailable(
                f"start: could not connect to any of {', '.join(self.creds.servers)} within {wait_s} s "
                f"({self._last_error or 'no answer'}); check the nodes run and console-log.json"
            ) from None
        self._nc = nc
        self._js = nc.jetstream(timeout=self.timeout_s)
        last = "no answer"
        while True:
            try:
                await self._ensure()
                return
            except Exception as exc:
                last = describe(exc, self.timeout_s)
            if loop.time() + 0.5 >= deadline:
                raise LogUnavailable(
                    f"start: connected, but could not create or find stream {self.stream} and bucket "
                    f"{self.bucket} within {wait_s} s ({last})"
                )
            await asyncio.sleep(0.5)

    async def _ensure(self) -> None:
        """The stream and the lease bucket: found, or created with our config."""
        js = self._js
        assert js is not None
        try:
            info = await js.stream_info(self.stream)
            if info.config.deny_purge:
                log.error("cluster log: %s", self._no_compaction())
        except nats.js.errors.NotFoundError:
            await js.add_stream(
                self._stream_config(self.stream, self.subject, "the console's committed facts")
            )
        try:
            await js.stream_info(self.snap_stream)
        except nats.js.errors.NotFoundError:
            await js.add_stream(
                self._stream_config(
                    self.snap_stream, self.snap_subject, "the newest snapshot of a console database"
                )
            )
        await limit_queue(js, self.creds.mqtt_queue, self.timeout_s)
        if self._kv is None:
            try:
                self._kv = await js.key_value(self.bucket)
            except nats.js.errors.BucketNotFoundError:
                self._kv = await js.create_key_value(
                    api.KeyValueConfig(
                        bucket=self.bucket,
                        description="stilalarm: which console is active (docs/HA.md)",
                        history=1,
                        replicas=self.replicas,
                        storage=api.StorageType.FILE,
                    )
                )

    def _stream_config(self, name: str, subject: str, what: str) -> api.StreamConfig:
        """The log's and the snapshots' stream: file storage, every copy, no limits (nothing is ever
        dropped: a full disk refuses, `discard: new`), no deletes; purges only by our compaction."""
        return api.StreamConfig(
            name=name,
            description=f"stilalarm: {what} (docs/HA.md)",
            subjects=[subject],
            storage=api.StorageType.FILE,
            num_replicas=self.replicas,
            retention=api.RetentionPolicy.LIMITS,
            discard=api.DiscardPolicy.NEW,
            max_msgs=-1,
            max_bytes=-1,
            max_age=0,
            max_msg_size=-1,
            deny_delete=True,
            deny_purge=False,  # compaction below a snapshot; older snapshots (docs/HA.md, Retention)
            duplicate_window=120.0,
        )

    def _no_compaction(self) -> str:
        return (
            f"{self.stream} was created by a stilalarm before 2026-12 that denied purges, and NATS cannot "
            "lift that (error 10052): this log cannot be compacted, so what the retention purge removes "
            "from the databases stays in the log. Start the site on a new log (docs/HA.md, Retention)"
        )

    def _part_size(self) -> int:
        nc = self._nc
        assert nc is not None
        return max(1024, nc.max_payload - HEADER_ROOM)

    async def _last_seq(self) -> int:
        assert self._js is not None
        si = await self._js.stream_info(self.stream)
        return int(si.state.last_seq)

    async def _append(self, record: bytes, expected_last_seq: int, record_id: str) -> int:
        js = self._js
        assert js is not None
        size = self._part_size()
        count = max(1, math.ceil(len(record) / size))
        last = expected_last_seq
        for i in range(count):
            headers = {
                "Nats-Msg-Id": f"{record_id}:{i}",
                # checked after the duplicate check (a retried part is a duplicate, not fenced),
                # and also when it is 0 (measured on a 2.9.10 cluster: an empty log is fenced too)
                "Nats-Expected-Last-Sequence": str(last),
                H_RECORD: record_id,
                H_PART: str(i),
                H_PARTS: str(count),
            }
            try:
                ack = await js.publish(
                    self.subject, record[i * size : (i + 1) * size], stream=self.stream, headers=headers
                )
            except nats.js.errors.APIError as exc:
                if _fenced(exc):
                    raise LogFenced(
                        f"append {record_id} part {i + 1}/{count}: the log's last sequence is not {last}: "
                        f"another writer got there first ({exc.description})"
                    ) from None
                raise
            last = int(ack.seq)
        return last

    async def _get(self, seq: int, cache: dict[int, _Part | None]) -> _Part | None:
        """The part stored at `seq`, or None (missing, or not a part of ours)."""
        if seq in cache:
            return cache[seq]
        js = self._js
        assert js is not None
        part: _Part | None = None
        try:
            msg = await js.get_msg(self.stream, seq)
        except nats.js.errors.NotFoundError:
            msg = None
        if msg is not None:
            h = msg.headers or {}
            try:
                part = _Part(str(h[H_RECORD]), int(h[H_PART]), int(h[H_PARTS]), msg.data or b"")
            except (KeyError, ValueError):
                log.warning("cluster log: message %d of %s is not a record part; skipped", seq, self.stream)
        cache[seq] = part
        return part

    async def _read(self, after_seq: int, max_records: int) -> list[tuple[int, bytes]]:
        assert self._js is not None
        state = (await self._js.stream_info(self.stream)).state
        last, oldest = int(state.last_seq), int(state.first_seq)
        if after_seq + 1 < oldest:
            raise LogGap(after_seq, oldest)
        cache: dict[int, _Part | None] = {}
        out: list[tuple[int, bytes]] = []
        s = after_seq + 1
        if s <= last:
            # a record that started at or before after_seq and ends after it: from its first part
            p = await self._get(s, cache)
            if p is not None and p.index > 0 and s - p.index >= 1:
                first = await self._get(s - p.index, cache)
                if first is not None and (first.record_id, first.index, first.count) == (
                    p.record_id,
                    0,
                    p.count,
                ):
                    s -= p.index
        while s <= last and len(out) < max_records:
            p = await self._get(s, cache)
            if p is None or p.index != 0:
                s += 1  # a stray part of a record that was never completed
                continue
            parts = [p.data]
            complete = True
            for j in range(1, p.count):
                if s + j > last:
                    return out  # at the tail, not complete (yet): its writer may still finish it
                q = await self._get(s + j, cache)
                if q is None or (q.record_id, q.index, q.count) != (p.record_id, j, p.count):
                    complete = False  # its writer died between parts; a new record starts here
                    s += j
                    break
                parts.append(q.data)
            if not complete:
                continue
            end = s + p.count - 1
            if end > after_seq:
                out.append((end, b"".join(parts)))
            s = end + 1
        return out

    async def _read_wait(self, after_seq: int, max_records: int, wait_s: float) -> list[tuple[int, bytes]]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        wake = self._wake
        if wake is None:
            # the first waiting read (a standby's): a core subscription to the facts subject wakes it
            # when a part is stored (the active's own appends never come back: no_echo)
            wake = self._wake = asyncio.Event()
            nc = self._nc
            assert nc is not None

            async def on_part(_msg: Any) -> None:
                wake.set()

            await nc.subscribe(self.subject, cb=on_part)
        while True:
            wake.clear()
            out = await self._read(after_seq, max_records)
            remaining = deadline - loop.time()
            if out or remaining <= 0:
                return out
            # woken by a message on the facts subject; polled as well (a wake-up lost in a reconnect)
            with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                await asyncio.wait_for(wake.wait(), min(remaining, 0.5))

    # -- presence: which consoles are there (console/ha/presence.py) -------------------------
    def announce(self, data: bytes) -> None:
        """Say this console is there: `data` on the presence subject (core NATS: not stored, no
        answer; lost while the connection is down, which is what the active should see)."""

        async def pub() -> None:
            nc = self._nc
            assert nc is not None
            await nc.publish(self.presence, data)

        self._call(pub(), self.timeout_s + 1.0, "announce")

    def on_presence(self, heard: Callable[[bytes], None]) -> None:
        """Call `heard` with every console's announcement from now on (on the connection's thread:
        keep it short); the subscription follows reconnects."""

        async def sub() -> None:
            nc = self._nc
            assert nc is not None

            async def on_msg(msg: Any) -> None:
                heard(msg.data)

            await nc.subscribe(self.presence, cb=on_msg)

        self._call(sub(), self.timeout_s + 1.0, "on_presence")

    # -- the facts log -----------------------------------------------------------------------
    def last_seq(self) -> int:
        """The stream's last sequence (0 when empty)."""
        return self._call(self._last_seq(), self.timeout_s + 1.0, "last_seq")

    def append(self, record: bytes, expected_last_seq: int, record_id: str) -> int:
        """Store one record after `expected_last_seq`; return the sequence of its last part.

        LogFenced: the log's last sequence was not `expected_last_seq` (or another writer's record
        came between two parts of this one): this record is not in the log (parts it left are
        skipped by `read`). LogUnavailable: the outcome is unknown, the record may still be stored
        (a part in flight, an ack lost): retry with the same `record_id` and `expected_last_seq`
        within the stream's duplicate window (2 min): it is stored at most once, a duplicate is
        success; or read the log to find it."""
        if not RECORD_ID_RE.match(record_id):
            raise ValueError(f"record_id {record_id!r}: 1-200 characters of [A-Za-z0-9_.:-]")
        if expected_last_seq < 0:
            raise ValueError(f"expected_last_seq {expected_last_seq} < 0")
        if self._nc is None:
            raise LogUnavailable("append: not started (call start() first) or closed")
        parts = max(1, math.ceil(len(record) / self._part_size()))
        return self._call(
            self._append(record, expected_last_seq, record_id), parts * self.timeout_s + 1.0, "append"
        )

    def read(self, after_seq: int, max_records: int = 100, wait_s: float = 0.0) -> list[tuple[int, bytes]]:
        """Complete records whose last part's sequence is after `after_seq`, oldest first, as
        (sequence of the last part, record); with `wait_s` > 0 wait that long for at least one."""
        if max_records < 1:
            raise ValueError("max_records must be at least 1")
        bound = max(0.0, wait_s) + max(10 * self.timeout_s, 30.0)
        return self._call(self._read_wait(after_seq, max_records, max(0.0, wait_s)), bound, "read")

    def first_seq(self) -> int:
        """The sequence of the oldest record still in the log (1 until it is compacted; 0 when empty)."""

        async def first() -> int:
            assert self._js is not None
            return int((await self._js.stream_info(self.stream)).state.first_seq)

        return self._call(first(), self.timeout_s + 1.0, "first_seq")

    # -- compaction: snapshots ---------------------------------------------------------------
    async def _put_snapshot(self, log_seq: int, data: bytes) -> int:
        js = self._js
        assert js is not None
        packed = zlib.compress(data, 6)
        digest = hashlib.sha256(packed).hexdigest()
        size = self._part_size()
        count = max(1, math.ceil(len(packed) / size))
        snap_id = f"{log_seq}.{digest[:16]}"
        first = 0
        for i in range(count):
            headers = {
                "Nats-Msg-Id": f"snap:{snap_id}:{i}",
                H_SNAPSHOT: str(log_seq),
                H_DIGEST: digest,
                H_PART: str(i),
                H_PARTS: str(count),
            }
            ack = await js.publish(
                self.snap_subject, packed[i * size : (i + 1) * size], stream=self.snap_stream, headers=headers
            )
            if i == 0:
                first = int(ack.seq)
        return first

    async def _snapshots(self, load: bool) -> list[tuple[int, int, bytes]]:
        """Every complete snapshot in the stream, in stream order: (log seq, first part's seq,
        database). With `load` the parts are joined and checked against their digest (a damaged one is
        skipped); without it only their headers are read and the database is b''."""
        js = self._js
        assert js is not None
        state = (await js.stream_info(self.snap_stream)).state
        out: list[tuple[int, int, bytes]] = []
        s, last = max(1, int(state.first_seq)), int(state.last_seq)
        while s <= last:
            try:
                m = await js.get_msg(self.snap_stream, s)
            except nats.js.errors.NotFoundError:
                s += 1
                continue
            h = m.headers or {}
            try:
                base, count, digest = int(h[H_SNAPSHOT]), int(h[H_PARTS]), str(h[H_DIGEST])
                index = int(h[H_PART])
            except (KeyError, ValueError):
                index, count, base, digest = -1, 0, 0, ""
            if index != 0:
                s += 1
                continue
            parts, ok = [m.data or b""], True
            for j in range(1, count):
                try:
                    q = await js.get_msg(self.snap_stream, s + j)
                except nats.js.errors.NotFoundError:
                    ok = False
                    break
                qh = q.headers or {}
                if qh.get(H_DIGEST) != digest or qh.get(H_PART) != str(j):
                    ok = False
                    break
                if load:
                    parts.append(q.data or b"")
            packed = b"".join(parts)
            if ok and load and hashlib.sha256(packed).hexdigest() != digest:
                ok = False
            if ok:
                out.append((base, s, zlib.decompress(packed) if load else b""))
                s += count
            else:
                log.warning("cluster log: an incomplete or damaged snapshot at %d skipped", s)
                s += 1
        return out

    async def _newest_snapshot(self) -> tuple[int, bytes] | None:
        snaps = await self._snapshots(load=True)
        if not snaps:
            return None
        base, _first, data = max(snaps, key=lambda t: t[0])
        return base, data

    async def _compact(self, log_seq: int, data: bytes) -> int:
        js = self._js
        assert js is not None
        if (await js.stream_info(self.stream)).config.deny_purge:
            raise LogUnavailable(f"compact: {self._no_compaction()}")
        await self._put_snapshot(log_seq, data)
        snaps = await self._snapshots(load=False)
        newest_base, newest_first, _d = max(snaps, key=lambda t: t[0], default=(0, 0, b""))
        if newest_base > log_seq:  # ours is stale (a former active's): the newer one stays, nothing more
            await self._purge_below(self.snap_stream, newest_first)
            return int((await js.stream_info(self.stream)).state.first_seq)
        if newest_base != log_seq:
            raise LogUnavailable(f"compact: snapshot {log_seq} is not in {self.snap_stream} once stored")
        # what precedes the newest snapshot in its stream is older (or a stale console's): purged
        await self._purge_below(self.snap_stream, newest_first)
        # the records the snapshot holds
        return await self._purge_below(self.stream, log_seq + 1)

    async def _purge_below(self, stream: str, seq: int) -> int:
        """Purge the messages before `seq` from `stream`; its first sequence afterwards. Only when
        there is something before it: nats-server 2.9 purges the WHOLE stream for seq 1 (measured;
        `filestore.go` PurgeEx treats 0 and 1 alike)."""
        js = self._js
        assert js is not None
        first = int((await js.stream_info(stream)).state.first_seq)
        if seq > max(1, first):
            await js.purge_stream(stream, seq=seq)
            first = int((await js.stream_info(stream)).state.first_seq)
        return first

    def compact(self, log_seq: int, data: bytes) -> int:
        """Store `data`, a console database that has applied the log up to `log_seq`, as the newest
        snapshot; then purge the older snapshots and every record up to `log_seq` from the log. The
        log's first sequence after it. LogUnavailable: not (wholly) done; the log is purged only
        after the snapshot is stored, so a failure anywhere loses nothing (call again)."""
        size = self._part_size() if self._nc is not None else 1 << 16
        parts = max(1, math.ceil(len(data) / size))
        return self._call(self._compact(log_seq, data), (parts + 3) * self.timeout_s + 1.0, "compact")

    def get_snapshot(self) -> tuple[int, bytes] | None:
        """(log seq, database) of the newest intact snapshot; None when there is none."""
        return self._call(self._newest_snapshot(), 60 * self.timeout_s, "get_snapshot")

    # -- the lease ---------------------------------------------------------------------------
    async def _lease_get(self) -> tuple[int, bytes] | None:
        assert self._kv is not None
        try:
            e = await self._kv.get(LEASE_KEY)
        except nats.js.errors.KeyNotFoundError:
            return None
        return int(e.revision or 0), e.value or b""

    async def _lease_put(self, value: bytes, expected_revision: int | None) -> int:
        kv = self._kv
        assert kv is not None
        try:
            if expected_revision is None:
                return await kv.create(LEASE_KEY, value)
            return await kv.update(LEASE_KEY, value, last=expected_revision)
        except nats.js.errors.KeyWrongLastSequenceError as exc:
            what = "exists" if expected_revision is None else f"is not at revision {expected_revision}"
            raise LogFenced(
                f"lease: the key {LEASE_KEY} {what}: another console got there first ({exc.description})"
            ) from None

    def lease_get(self) -> tuple[int, bytes] | None:
        """(revision, value) of the lease, None when it was never set."""
        return self._call(self._lease_get(), self.timeout_s + 1.0, "lease_get")

    def lease_create(self, value: bytes) -> int:
        """Set the lease if it was never set; its revision. LogFenced if it exists."""
        return self._call(self._lease_put(value, None), 2 * self.timeout_s + 1.0, "lease_create")

    def lease_update(self, value: bytes, expected_revision: int) -> int:
        """Set the lease if it is at `expected_revision`; the new revision. LogFenced otherwise."""
        if expected_revision < 1:
            raise ValueError("expected_revision must be a revision lease_get/create/update returned (>= 1)")
        return self._call(self._lease_put(value, expected_revision), self.timeout_s + 1.0, "lease_update")
