"""Registration of an incident ("Melding agressie") from the phone page (`/app/register.html`):
the victim's part, with or without an alarm (docs/REGISTRATION.md).

    POST /app/api/register   {registration_id?, incident_id?, place_kind?, room_id?, occurred_at?,
                              what_happened, aggression_types, how_are_you?, weapon?, stalking?,
                              telephone_stalking?, damage_belongings?, animals?, alcohol_drugs?,
                              sexual_intimidation?}
    GET  /app/api/register   the rooms to choose from and who is signed in

The token must be a person's (panic-page) token; the command is that person's `registration_file`,
published on alarm-web's login on person/P/webcmd (where the console takes it, like the visits'
commands) and answered only after the console's reply; without one within REPLY_TIMEOUT_S the
answer is 503 and the page sends the same registration again (same `registration_id`: the console
answers a repeat and changes nothing). What happened is never logged here and never stored here.
The lead's part is not taken from the web: a stolen alarm-web password must not complete anyone's
registration.
"""

from __future__ import annotations

import json
import logging
import secrets

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from stilalarm.ingress.app import Ingress, _token_of, error
from stilalarm.ingress.visits import REPLY_TIMEOUT_S, Guard, VisitDesk
from stilalarm.inventory.kinds import Via
from stilalarm.wire.messages import PlaceKind, RegistrationFileCmd, new_id, utcnow

log = logging.getLogger("alarm-web")

_STATUS = {"not_authorised": 403, "unknown_target": 404, "unknown_incident": 404}
_HEAD = {"v", "kind", "cmd_id", "person_id", "issued_at"}


class Registrations:
    """The routes' state: the ingress (tokens, limits) and alarm-web's own desk (`web.registrations`)."""

    def __init__(self, ing: Ingress) -> None:
        self.ing = ing
        self.desk = VisitDesk(ing.cfg, "registrations")

    def _person(self, request: Request) -> str:
        tk = self.ing.authorize(request, _token_of(request), Via.APP)
        assert tk.person is not None  # a panic-page token always names its person (inventory rule)
        return tk.person

    async def file(self, request: Request) -> Response:
        raw = await self.ing.body(request)
        person = self._person(request)
        try:
            body = json.loads(raw)
        except ValueError:
            return error(422, "bad_body", "the body is not JSON")
        if not isinstance(body, dict) or _HEAD & body.keys():
            return error(422, "bad_body", "a JSON object with the form's fields only")
        body.setdefault("registration_id", f"reg-{utcnow():%Y%m%d}-{secrets.token_hex(4)}")
        try:
            cmd = RegistrationFileCmd.model_validate(
                {**body, "cmd_id": str(new_id()), "person_id": person, "issued_at": utcnow().isoformat()}
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}"
                for e in exc.errors(include_input=False)
            )
            log.warning("registration from %s refused: %s", person, problems)
            return error(422, "bad_body", problems)
        reply = await self.desk.send(cmd, REPLY_TIMEOUT_S)
        rid = cmd.registration_id
        if reply is None:
            log.warning("registration %s of %s: no reply from the console; the page retries", rid, person)
            return JSONResponse(
                {
                    "ok": False,
                    "error": "no_reply",
                    "message": "the alarm console did not answer; sending again",
                    "registration_id": rid,
                },
                503,
                headers={"Retry-After": "2"},
            )
        if not reply.ok:
            log.info("registration %s of %s refused: %s", rid, person, reply.code)
            body = {"ok": False, "error": reply.code, "message": reply.reason, "registration_id": rid}
            return JSONResponse(body, _STATUS.get(reply.code, 422))
        log.info("registration %s of %s: accepted", rid, person)
        return JSONResponse({"ok": True, "registration_id": rid, "message": reply.reason})

    async def form(self, request: Request) -> Response:
        person = self._person(request)
        cfg = self.ing.cfg
        return JSONResponse(
            {
                "ok": True,
                "name": cfg.people.get(person, ""),
                "language": cfg.language.value,
                "places": [p.value for p in PlaceKind],
                "rooms": [{"id": k, "label": v} for k, v in cfg.rooms.items()],
            }
        )


def register_routes(ing: Ingress, guard: Guard) -> list[Route]:
    """The registration routes (behind the app's guard: refusals and failures answered as JSON)."""
    r = Registrations(ing)
    return [
        Route("/app/api/register", guard(r.file), methods=["POST"]),
        Route("/app/api/register", guard(r.form), methods=["GET"]),
    ]
