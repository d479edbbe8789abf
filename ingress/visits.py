"""Home visits (huisbezoek) from the phone page (`/app/visit.html`): register before leaving, check
in after (docs/VISITS.md).

    POST /app/api/visit                  {visit_id?, client_name?, address, planned_end, colleague?,
                                          team?, mobile}: register (planned_end ISO 8601 with offset)
    POST /app/api/visit/<visit_id>/end   back: check in
    GET  /app/api/visits                 this person's visits registered here (two days), the colleagues
                                          to choose from, the office's closing time

The token must be a person's (panic-page) token; the command is that person's, published on
alarm-web's own login (its ACL: `person/P/cmd` write and `person/P/reply` read for every person with
a live token) and answered only after the console's reply. Without a reply within REPLY_TIMEOUT_S
the answer is 503 and the page sends the same visit again (same `visit_id`: the console answers a
repeat and changes nothing). The client's name and the address are never logged and never stored
here: this module keeps only the visit id, whose it is, the planned end and whether it was ended.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from stilalarm.ingress.app import Ingress, _token_of, error
from stilalarm.inventory.derived import WebConfig
from stilalarm.inventory.kinds import Via
from stilalarm.wire.link import Link
from stilalarm.wire.messages import (
    ID_PATTERN,
    ID_RE,
    PHONE_PATTERN,
    CommandReply,
    ContractError,
    PersonCmdBase,
    VisitEndCmd,
    VisitStartCmd,
    encode,
    new_id,
    parse,
    utcnow,
)
from stilalarm.wire.topics import Topics

log = logging.getLogger("alarm-web")

REPLY_TIMEOUT_S = 5.0
"""How long a request waits for the console's reply before it answers 503 (the page retries)."""
KEEP_S = 2 * 24 * 3600
"""How long this module remembers a visit (for GET /app/api/visits)."""
VISITS_FILE = "web-visits.sqlite"

_STATUS = {"not_authorised": 403, "unknown_target": 404, "already_resolved": 409}


class VisitForm(BaseModel):
    """The body of POST /app/api/visit (strict: anything else is refused)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
    visit_id: Annotated[str, Field(pattern=ID_PATTERN)] | None = Field(
        default=None, description="Made by the page; the same on every retry (default: a new one)."
    )
    client_name: str = Field(default="", max_length=120, description="Who is visited (optional).")
    address: str = Field(min_length=3, max_length=200, description="Where the visit is.")
    planned_end: AwareDatetime = Field(description="When the visit should be over (ISO 8601 with offset).")
    colleague: Annotated[str, Field(pattern=ID_PATTERN)] | None = Field(
        default=None, description="Who calls you if it runs long (default: your team's lead)."
    )
    team: Annotated[str, Field(pattern=ID_PATTERN)] | None = None
    mobile: str = Field(pattern=PHONE_PATTERN, description="Your mobile number.")


@dataclass(frozen=True)
class Kept:
    visit_id: str
    person_id: str
    planned_end: str
    ended: bool


class VisitBook:
    """Visit id -> whose, planned end, ended (one small SQLite file; nothing private)."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS visits (visit_id TEXT PRIMARY KEY, person_id TEXT NOT NULL, "
            "planned_end TEXT NOT NULL, at REAL NOT NULL, ended INTEGER NOT NULL DEFAULT 0)"
        )
        self._db.execute("DELETE FROM visits WHERE at < ?", (time.time() - KEEP_S,))

    def get(self, visit_id: str) -> Kept | None:
        with self._lock:
            r = self._db.execute(
                "SELECT visit_id, person_id, planned_end, ended FROM visits WHERE visit_id = ?", (visit_id,)
            ).fetchone()
        return Kept(r[0], r[1], r[2], bool(r[3])) if r else None

    def of(self, person_id: str) -> list[Kept]:
        with self._lock:
            rows = self._db.execute(
                "SELECT visit_id, person_id, planned_end, ended FROM visits WHERE person_id = ? AND at >= ? "
                "ORDER BY planned_end",
                (person_id, time.time() - KEEP_S),
            ).fetchall()
        return [Kept(r[0], r[1], r[2], bool(r[3])) for r in rows]

    def add(self, visit_id: str, person_id: str, planned_end: datetime) -> None:
        self._write(
            "INSERT OR IGNORE INTO visits VALUES (?, ?, ?, ?, 0)",
            (visit_id, person_id, planned_end.isoformat(), time.time()),
        )

    def end(self, visit_id: str) -> None:
        self._write("UPDATE visits SET ended = 1 WHERE visit_id = ?", (visit_id,))

    def _write(self, sql: str, args: tuple[object, ...]) -> None:
        try:
            with self._lock:
                self._db.execute(sql, args)
        except sqlite3.Error:  # only the page's list suffers; the console holds the visit
            log.exception("cannot remember visit %s", args[0])


class VisitDesk:
    """alarm-web's own MQTT client for visit commands (client id `web.visits`, or on the cluster
    profile `<web's secret client id>-visits`): publish a person's command, wait for the
    console's reply to it."""

    def __init__(self, cfg: WebConfig, suffix: str = "visits") -> None:
        self.topics = Topics(cfg.site_id)
        self.persons = sorted({t.person for t in cfg.tokens if t.person and not t.revoked})
        self.link = Link(cfg.broker, client_id=cfg.broker.session_client_id(suffix), clean_session=True)
        for pid in self.persons:
            # clean session: QoS 0 (docs/HA.md, "A closing session stalls a route")
            self.link.subscribe(self.topics.person_reply(pid), self._on_reply, qos=0)
        self._waiting: dict[uuid.UUID, tuple[asyncio.AbstractEventLoop, asyncio.Future[CommandReply]]] = {}
        self._lock = threading.Lock()
        self._started = False

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        self.link.start()

    async def send(self, cmd: PersonCmdBase, timeout: float = REPLY_TIMEOUT_S) -> CommandReply | None:
        """Publish `cmd` for its person; the console's reply, or None after `timeout` seconds."""
        self._start()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[CommandReply] = loop.create_future()
        deadline = loop.time() + timeout
        with self._lock:
            self._waiting[cmd.cmd_id] = (loop, fut)
        try:
            while not self.link.connected.is_set():
                if loop.time() >= deadline:
                    return None
                await asyncio.sleep(0.02)
            self.link.publish(self.topics.person_webcmd(cmd.person_id), encode(cmd), qos=1)
            return await asyncio.wait_for(fut, max(0.0, deadline - loop.time()))
        except TimeoutError:
            return None
        finally:
            with self._lock:
                self._waiting.pop(cmd.cmd_id, None)

    def _on_reply(self, _topic: str, payload: bytes) -> None:
        try:
            reply = parse(CommandReply, payload)
        except ContractError:
            return
        with self._lock:
            entry = self._waiting.get(reply.cmd_id)
        if entry is not None:
            loop, fut = entry

            def settle() -> None:
                if not fut.done():
                    fut.set_result(reply)

            loop.call_soon_threadsafe(settle)


class Visits:
    """The routes' state: the ingress (tokens, limits), the desk, the book."""

    def __init__(self, ing: Ingress) -> None:
        self.ing = ing
        self.desk = VisitDesk(ing.cfg)
        self.book = VisitBook(ing.units.state_dir / VISITS_FILE)

    def _person(self, request: Request) -> str:
        tk = self.ing.authorize(request, _token_of(request), Via.APP)
        assert tk.person is not None  # a panic-page token always names its person (inventory rule)
        return tk.person

    async def start(self, request: Request) -> Response:
        raw = await self.ing.body(request)
        person = self._person(request)
        try:
            form = VisitForm.model_validate_json(raw)
            vid = form.visit_id or f"v-{utcnow():%Y%m%d}-{secrets.token_hex(4)}"
            cmd = VisitStartCmd(
                cmd_id=new_id(),
                person_id=person,
                issued_at=utcnow(),
                visit_id=vid,
                client_name=form.client_name,
                address=form.address,
                planned_end=form.planned_end,
                colleague=form.colleague,
                team=form.team,
                mobile=form.mobile,
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()
            )
            log.warning("visit from %s refused: %s", person, problems)
            return error(422, "bad_body", problems)
        seen = self.book.get(vid)
        if seen is not None and seen.person_id != person:
            log.warning("visit id %s of %s sent by %s: refused", vid, seen.person_id, person)
            return error(409, "replayed", "this visit id belongs to someone else")
        return await self._answer(cmd, lambda: self.book.add(vid, person, cmd.planned_end))

    async def end(self, request: Request) -> Response:
        await self.ing.body(request)
        person = self._person(request)
        vid = str(request.path_params.get("visit_id", ""))
        if not ID_RE.match(vid):
            return error(422, "bad_visit_id", "the visit id is lowercase letters, digits and dashes")
        cmd = VisitEndCmd(cmd_id=new_id(), person_id=person, issued_at=utcnow(), visit_id=vid)
        return await self._answer(cmd, lambda: self.book.end(vid))

    async def _answer(self, cmd: VisitStartCmd | VisitEndCmd, done: Callable[[], None]) -> Response:
        reply = await self.desk.send(cmd)
        if reply is None:
            log.warning(
                "%s %s of %s: no reply from the console; the page retries",
                cmd.kind,
                cmd.visit_id,
                cmd.person_id,
            )
            return JSONResponse(
                {
                    "ok": False,
                    "error": "no_reply",
                    "message": "the alarm console did not answer; sending again",
                    "visit_id": cmd.visit_id,
                },
                503,
                headers={"Retry-After": "2"},
            )
        if not reply.ok:
            log.info("%s %s of %s refused: %s", cmd.kind, cmd.visit_id, cmd.person_id, reply.code)
            body = {"ok": False, "error": reply.code, "message": reply.reason, "visit_id": cmd.visit_id}
            return JSONResponse(body, _STATUS.get(reply.code, 422))
        done()
        log.info("%s %s of %s: accepted", cmd.kind, cmd.visit_id, cmd.person_id)
        return JSONResponse(
            {"ok": True, "visit_id": cmd.visit_id, "incident_id": reply.incident_id, "message": reply.reason}
        )

    async def mine(self, request: Request) -> Response:
        person = self._person(request)
        cfg = self.ing.cfg
        visits = [
            {"visit_id": k.visit_id, "planned_end": k.planned_end, "ended": k.ended}
            for k in self.book.of(person)
        ]
        colleagues = [
            {"id": p, "name": n} for p, n in sorted(cfg.staff.items(), key=lambda x: x[1]) if p != person
        ]
        return JSONResponse(
            {
                "ok": True,
                "name": cfg.people.get(person, ""),
                "language": cfg.language.value,
                "office_end": cfg.office_hours.end,
                "office_weekdays": list(cfg.office_hours.weekdays),
                "timezone": cfg.timezone,
                "visits": visits,
                "colleagues": colleagues,
            }
        )


Guard = Callable[[Callable[[Request], Awaitable[Response]]], Callable[[Request], Awaitable[Response]]]


def visit_routes(ing: Ingress, guard: Guard) -> list[Route]:
    """The home-visit routes (each behind the app's guard: refusals and failures answered as JSON),
    and the risky-conversation routes on the same MQTT login (`stilalarm.ingress.risk`)."""
    from stilalarm.ingress.risk import risk_routes

    v = Visits(ing)
    return [
        *risk_routes(ing, guard, v.desk),
        Route("/app/api/visit", guard(v.start), methods=["POST"]),
        Route("/app/api/visit/{visit_id}/end", guard(v.end), methods=["POST"]),
        Route("/app/api/visits", guard(v.mine), methods=["GET"]),
    ]
