"""alarm-web's HTTP routes (Starlette): desk-phone presses and keep-alives, the panic page's API.

Every answer is JSON; every refusal names its code (`error`) and what to do (`message`), and
changes nothing. A press is answered only after it is on disk in the outbox. Tokens are never
logged: log lines name the token's id.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from stilalarm.firmware.feedback import Base
from stilalarm.ingress.presses import PageAlarm, PressBook
from stilalarm.ingress.tokens import RateLimit, Refusal, TokenBook
from stilalarm.ingress.units import WebUnits
from stilalarm.inventory.derived import WebConfig, WebTokenHash
from stilalarm.inventory.kinds import Via

log = logging.getLogger("alarm-web")

PAGE_DIR = Path(__file__).parent / "page"

_STATUS = {
    Refusal.MISSING: 401,
    Refusal.MALFORMED: 401,
    Refusal.UNKNOWN: 401,
    Refusal.REVOKED: 403,
}
_HELP = {
    Refusal.MISSING: "no token: use the URL alarm-broker render wrote for this device (web/urls.txt)",
    Refusal.MALFORMED: "the token is not in the form alarm-broker render writes; copy the URL again",
    Refusal.UNKNOWN: "unknown token: render again and configure the device with its URL from web/urls.txt",
    Refusal.REVOKED: "this token is revoked in site.toml; ask IT for a new one",
}


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The one shape of a refusal."""
    return JSONResponse({"ok": False, "error": code, "message": message}, status, headers=headers)


class Refused(Exception):
    """A request is refused; carries the answer."""

    def __init__(self, response: Response) -> None:
        self.response = response


class LogThrottle:
    """At most one log line per (key) per `every_s`, with how many were folded into it."""

    def __init__(self, every_s: float = 60.0) -> None:
        self.every_s = every_s
        self._last: dict[str, tuple[float, int]] = {}

    def warn(self, key: str, msg: str, *args: Any) -> None:
        now = time.monotonic()
        at, folded = self._last.get(key, (-1e18, 0))
        if now - at >= self.every_s:
            more = f" (+{folded} more like it)" if folded else ""
            log.warning(msg + more, *args)
            self._last[key] = (now, 0)
        else:
            self._last[key] = (at, folded + 1)


class Ingress:
    """The routes' state: tokens, rate limits, the web units, the page presses."""

    def __init__(self, cfg: WebConfig, units: WebUnits, presses: PressBook) -> None:
        self.cfg = cfg
        self.units = units
        self.presses = presses
        self.book = TokenBook(cfg.tokens)
        self.limits = RateLimit.of(cfg.policy.rate_burst, cfg.policy.rate_per_s)
        self.throttle = LogThrottle()
        self.via = {u.id: u.via for u in cfg.units}

    # -- the checks every route makes -----------------------------------------------------
    def authorize(self, request: Request, token: str | None, via: Via) -> WebTokenHash:
        """The request's token, within its rate, for a unit of kind `via`; else Refused."""
        peer = request.client.host if request.client else "?"
        checked = self.book.check(token)
        if checked.refusal is not None:
            who = checked.token.id if checked.token else "-"
            self.throttle.warn(
                f"{peer}:{checked.refusal}",
                "refused %s %s from %s: %s (token id %s)",
                request.method,
                request.url.path,
                peer,
                checked.refusal.value,
                who,
            )
            raise Refused(error(_STATUS[checked.refusal], checked.refusal.value, _HELP[checked.refusal]))
        tk = checked.token
        assert tk is not None
        self.limits, wait = self.limits.take(tk.id, time.monotonic())
        if wait is not None:
            self.throttle.warn(f"rate:{tk.id}", "token %s over its rate; answered 429", tk.id)
            retry = str(max(1, int(wait + 0.999)))
            raise Refused(
                error(
                    429, "rate_limited", f"too many requests; retry after {retry} s", {"Retry-After": retry}
                )
            )
        if self.via.get(tk.unit) is not via:
            log.warning("token %s (unit %s) used on %s: refused", tk.id, tk.unit, request.url.path)
            what = "a desk phone" if via is Via.PHONE else "a panic page"
            raise Refused(error(403, "wrong_device", f"this token is not for {what}"))
        return tk

    async def body(self, request: Request) -> bytes:
        """The request body, refused beyond the size limit (announced or streamed)."""
        limit = self.cfg.policy.max_body_bytes
        announced = request.headers.get("content-length")
        if announced is not None and (not announced.isdigit() or int(announced) > limit):
            raise Refused(error(413, "too_large", f"the body is larger than {limit} bytes"))
        got = bytearray()
        async for chunk in request.stream():
            got += chunk
            if len(got) > limit:
                raise Refused(error(413, "too_large", f"the body is larger than {limit} bytes"))
        return bytes(got)

    # -- desk phones ----------------------------------------------------------------------
    async def phone_press(self, request: Request) -> Response:
        """GET or POST from a desk phone's alarm key: one press of its room's alarm."""
        await self.body(request)  # a phone may POST a body; it is read (and bounded), not used
        tk = self.authorize(request, _token_of(request), Via.PHONE)
        ev, durable = await self.units.press(tk.unit)
        log.info("press from token %s: unit %s event %s stored=%s", tk.id, tk.unit, ev.event_id, durable)
        if not durable:
            return error(503, "not_stored", "the press was sent but could not be stored on disk; press again")
        feedback = self.units.feedback(tk.unit)
        return JSONResponse(
            {
                "ok": True,
                "event_id": str(ev.event_id),
                "kind": ev.kind.value,
                # the unit's LED state when answered (a first press: not yet stored by the console);
                # a phone that can show an answer shows "niemand bereikbaar: bel 101" (hardware/PHONES.md)
                "feedback": feedback,
                "nobody_reachable": feedback == Base.NOBODY_REACHABLE,
            }
        )

    async def phone_alive(self, request: Request) -> Response:
        """A desk phone's keep-alive: it is there."""
        await self.body(request)
        tk = self.authorize(request, _token_of(request), Via.PHONE)
        self.units.heard(tk.unit)
        log.info("keep-alive from token %s (unit %s)", tk.id, tk.unit)
        return JSONResponse({"ok": True})

    # -- the panic page -------------------------------------------------------------------
    async def page_press(self, request: Request) -> Response:
        """POST from the panic page: {press_id, sent_at, where?, lat?, lon?, accuracy_m?}."""
        raw = await self.body(request)
        tk = self.authorize(request, _token_of(request), Via.APP)
        try:
            alarm = PageAlarm.model_validate_json(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()
            )
            log.warning("token %s: bad panic-page body refused: %s", tk.id, problems)
            return error(422, "bad_body", problems)
        seen = self.presses.get(alarm.press_id)
        if seen is not None:
            if seen.unit_id != tk.unit:
                log.warning(
                    "token %s replayed press %s of unit %s: refused", tk.id, alarm.press_id, seen.unit_id
                )
                return error(409, "replayed", "this press id belongs to another device")
            return JSONResponse({"ok": True, "event_id": str(seen.event_id), "repeat": True})
        ev, durable = await self.units.press(tk.unit, alarm.detail())
        if not durable:
            return error(503, "not_stored", "sent but not stored on disk; the page retries")
        self.presses.add(alarm.press_id, tk.unit, ev.event_id)
        log.info(
            "panic page press %s from token %s: unit %s event %s", alarm.press_id, tk.id, tk.unit, ev.event_id
        )
        return JSONResponse({"ok": True, "event_id": str(ev.event_id), "repeat": False})

    async def page_status(self, request: Request) -> Response:
        """GET from the panic page: is the press stored (ontvangen), is a lead coming (hulp komt)."""
        tk = self.authorize(request, _token_of(request), Via.APP)
        try:
            press_id = uuid.UUID(request.query_params.get("press_id", ""))
        except ValueError:
            return error(422, "bad_press_id", "press_id must be the UUID the page sent with its press")
        seen = self.presses.get(press_id)
        if seen is None or seen.unit_id != tk.unit:
            return error(404, "unknown_press", "no such press from this device")
        p = self.units.progress(tk.unit, seen.event_id)
        received = bool(p and p.received) or seen.event_id not in self.units.runtimes[tk.unit].pending
        feedback = self.units.feedback(tk.unit)
        return JSONResponse(
            {
                "ok": True,
                "received": received,
                "coming": received and feedback == Base.ACKNOWLEDGED,
                # nobody on the whole escalation can be reached: call 101 yourself (until someone acks)
                "nobody_reachable": received and feedback == Base.NOBODY_REACHABLE,
                "incident_id": p.incident_id if p else None,
            }
        )

    async def page_whoami(self, request: Request) -> Response:
        """GET from the panic page at start: whose page this is (name, language)."""
        tk = self.authorize(request, _token_of(request), Via.APP)
        return JSONResponse(
            {
                "ok": True,
                "name": self.cfg.people.get(tk.person or "", ""),
                "language": self.cfg.language.value,
            }
        )

    async def health(self, request: Request) -> Response:
        """Liveness for monitoring: broker link and how many events wait for the console."""
        return JSONResponse({"ok": True, "broker": self.units.up, "unreceipted": self.units.depth()})


def _token_of(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return request.query_params.get("token")


def _guard(fn: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    async def route(request: Request) -> Response:
        try:
            return await fn(request)
        except Refused as r:
            return r.response
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            return error(500, "internal", "alarm-web failed on this request; it is logged. Press again.")

    return route


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    return error(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))


def build_app(ing: Ingress, lifespan: Any = None) -> Starlette:
    """The ASGI app for uvicorn."""
    both = ["GET", "POST"]
    routes: list[Route | Mount] = [
        Route("/phone/press", _guard(ing.phone_press), methods=both),
        Route("/phone/alive", _guard(ing.phone_alive), methods=both),
        Route("/app/api/press", _guard(ing.page_press), methods=["POST"]),
        Route("/app/api/status", _guard(ing.page_status), methods=["GET"]),
        Route("/app/api/whoami", _guard(ing.page_whoami), methods=["GET"]),
        Route("/healthz", _guard(ing.health), methods=["GET"]),
    ]
    from stilalarm.ingress.visits import visit_routes  # home visits (docs/VISITS.md)

    routes += visit_routes(ing, _guard)
    from stilalarm.ingress.register import register_routes  # registrations (docs/REGISTRATION.md)

    routes += register_routes(ing, _guard)
    if PAGE_DIR.is_dir():
        routes.append(Mount("/app", StaticFiles(directory=PAGE_DIR, html=True), name="page"))
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error})
    return app
