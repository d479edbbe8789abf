"""Risky conversations (risicogesprek) from the phone page (`/app/risk.html`): announce one with the
room, the time window and the stand-by colleague; the stand-by colleague confirms; cancel
(docs/RISKY.md).

    POST /app/api/risk                  {risk_id?, room, starts_at, ends_at, standby, colleagues_present?}
    POST /app/api/risk/<risk_id>/confirm
    POST /app/api/risk/<risk_id>/cancel
    GET  /app/api/risk                  the rooms and colleagues to choose from, the office hours

Like the home-visit routes: the token must be a person's (panic-page) token, the command is that
person's, published on `person/P/webcmd` with alarm-web's own login and answered only after the
console's reply (503 without one: the page sends the same command again; the console answers a
repeat and changes nothing). The console decides who may confirm or cancel.
"""

from __future__ import annotations

import logging
import secrets
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from stilalarm.ingress.app import Ingress, _token_of, error
from stilalarm.ingress.visits import Guard, VisitDesk
from stilalarm.inventory.kinds import Via
from stilalarm.wire.messages import (
    ID_PATTERN,
    ID_RE,
    RiskAnnounceCmd,
    RiskCancelCmd,
    RiskConfirmCmd,
    new_id,
    utcnow,
)

log = logging.getLogger("alarm-web")

_STATUS = {"not_authorised": 403, "unknown_target": 404}
Id = Annotated[str, Field(pattern=ID_PATTERN)]


class RiskForm(BaseModel):
    """The body of POST /app/api/risk (strict: anything else is refused)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
    risk_id: Id | None = Field(default=None, description="Made by the page; the same on every retry.")
    room: Id
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    standby: Id
    colleagues_present: bool = False


class Risks:
    """The routes' state: the ingress (tokens, limits) and the desk (shared MQTT login)."""

    def __init__(self, ing: Ingress, desk: VisitDesk) -> None:
        self.ing = ing
        self.desk = desk

    def _person(self, request: Request) -> str:
        tk = self.ing.authorize(request, _token_of(request), Via.APP)
        assert tk.person is not None  # a panic-page token always names its person (inventory rule)
        return tk.person

    async def announce(self, request: Request) -> Response:
        raw = await self.ing.body(request)
        person = self._person(request)
        try:
            form = RiskForm.model_validate_json(raw)
            cmd = RiskAnnounceCmd(
                cmd_id=new_id(),
                person_id=person,
                issued_at=utcnow(),
                risk_id=form.risk_id or f"r-{utcnow():%Y%m%d}-{secrets.token_hex(4)}",
                room=form.room,
                starts_at=form.starts_at,
                ends_at=form.ends_at,
                standby=form.standby,
                colleagues_present=form.colleagues_present,
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()
            )
            log.warning("risky conversation from %s refused: %s", person, problems)
            return error(422, "bad_body", problems)
        return await self._answer(cmd)

    async def act(self, request: Request) -> Response:
        await self.ing.body(request)
        person = self._person(request)
        rid = str(request.path_params.get("risk_id", ""))
        if not ID_RE.match(rid):
            return error(422, "bad_risk_id", "the id is lowercase letters, digits and dashes")
        kind = RiskConfirmCmd if request.url.path.endswith("/confirm") else RiskCancelCmd
        return await self._answer(kind(cmd_id=new_id(), person_id=person, issued_at=utcnow(), risk_id=rid))

    async def _answer(self, cmd: RiskAnnounceCmd | RiskConfirmCmd | RiskCancelCmd) -> Response:
        reply = await self.desk.send(cmd)
        if reply is None:
            log.warning("%s %s of %s: no reply from the console", cmd.kind, cmd.risk_id, cmd.person_id)
            body = {
                "ok": False,
                "error": "no_reply",
                "message": "the alarm console did not answer; sending again",
            }
            return JSONResponse({**body, "risk_id": cmd.risk_id}, 503, headers={"Retry-After": "2"})
        if not reply.ok:
            log.info("%s %s of %s refused: %s", cmd.kind, cmd.risk_id, cmd.person_id, reply.code)
            body = {"ok": False, "error": reply.code, "message": reply.reason, "risk_id": cmd.risk_id}
            return JSONResponse(body, _STATUS.get(reply.code, 422))
        log.info("%s %s of %s: accepted", cmd.kind, cmd.risk_id, cmd.person_id)
        return JSONResponse({"ok": True, "risk_id": cmd.risk_id, "message": reply.reason})

    async def choices(self, request: Request) -> Response:
        person = self._person(request)
        cfg = self.ing.cfg
        colleagues = [
            {"id": p, "name": n} for p, n in sorted(cfg.staff.items(), key=lambda x: x[1]) if p != person
        ]
        rooms = [{"id": r, "label": label} for r, label in sorted(cfg.rooms.items(), key=lambda x: x[1])]
        hours = cfg.office_hours
        return JSONResponse(
            {
                "ok": True,
                "name": cfg.people.get(person, ""),
                "language": cfg.language.value,
                "office_start": hours.start,
                "office_end": hours.end,
                "office_weekdays": list(hours.weekdays),
                "closed_days": [d.isoformat() for d in hours.closed_days],
                "rooms": rooms,
                "colleagues": colleagues,
            }
        )


def risk_routes(ing: Ingress, guard: Guard, desk: VisitDesk) -> list[Route]:
    """The risky-conversation routes (each behind the app's guard)."""
    r = Risks(ing, desk)
    return [
        Route("/app/api/risk", guard(r.announce), methods=["POST"]),
        Route("/app/api/risk", guard(r.choices), methods=["GET"]),
        Route("/app/api/risk/{risk_id}/confirm", guard(r.act), methods=["POST"]),
        Route("/app/api/risk/{risk_id}/cancel", guard(r.act), methods=["POST"]),
    ]
