"""MQTT glue of the console: subscribe as one person, parse, hand events over, send commands.

Callbacks run in paho's thread; they only parse and call `sink(event)`, which must be
thread-safe (the app posts a Textual message). Nothing here touches widgets.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel

from stilalarm.wire.credentials import BrokerCredentials
from stilalarm.wire.identity import client_id as cid_for
from stilalarm.wire.identity import random_suffix
from stilalarm.wire.link import Link
from stilalarm.wire.messages import (
    AckCmd,
    CommandReply,
    ConsoleLinkCmd,
    ConsoleStatus,
    ContractError,
    DeclineCmd,
    IncidentState,
    IncidentTimeline,
    Notification,
    OnSiteCmd,
    PresenceCmd,
    PresenceState,
    Registration,
    RegistrationCompleteCmd,
    RegistrationTodo,
    ResolveCmd,
    RiskConfirmCmd,
    RiskState,
    TestScope,
    TestStartCmd,
    TestStopCmd,
    UnitHealth,
    VisitAnswerCmd,
    encode,
    new_id,
    parse,
    utcnow,
)
from stilalarm.wire.topics import Topics

log = logging.getLogger(__name__)

Payload = (
    IncidentState
    | IncidentTimeline
    | UnitHealth
    | PresenceState
    | ConsoleStatus
    | Notification
    | CommandReply
    | RegistrationTodo
    | RiskState
)


QOS = 0
"""The console's subscriptions are QoS 0. Its session is clean, so QoS 1 would keep nothing over a
disconnect (the retained state is resynced on every connect), and on the cluster profile each QoS 1
subscription is a JetStream consumer that nats-server 2.9 deletes at the close while holding the
session: a message for it arriving over a route then stalls that route, every alarm on it, for
4 s (docs/HA.md, "A closing session stalls a route")."""


@dataclass(frozen=True)
class Got:
    """A valid message arrived."""

    msg: Payload


@dataclass(frozen=True)
class Cleared:
    """An empty retained payload: `kind` ('incident', 'timeline', ...) `ident` was cleared."""

    kind: str
    ident: str


@dataclass(frozen=True)
class Up:
    """Connected and subscribed: retained state is being (re)delivered."""


@dataclass(frozen=True)
class Down:
    """The broker connection is lost (Link reconnects by itself)."""

    reason: str


@dataclass(frozen=True)
class Bad:
    """A payload broke the wire contract; shown and logged, never fatal."""

    topic: str
    error: str


BusEvent = Got | Cleared | Up | Down | Bad


class Bus:
    """One person's connection: the topics a console reads, and the commands it sends."""

    def __init__(
        self,
        creds: BrokerCredentials,
        person_id: str,
        sink: Callable[[BusEvent], None],
        *,
        client_id: str | None = None,
        console_id: str | None = None,
    ) -> None:
        self.person_id = person_id
        self.topics = Topics(creds.site_id)
        self._sink = sink
        # Stable per PC and person: a console restarted on the same PC replaces itself.
        self.console_id = console_id or _this_pc()
        will = self._link_cmd(online=False)
        # A unique client id: the same person may run consoles on several PCs at once.
        # Clean session: the retained state is the truth, resynced on every connect.
        self.link = Link(
            creds,
            client_id=client_id or cid_for(creds.username, random_suffix("tui")),
            clean_session=True,
            will=(self.topics.person_cmd(person_id), encode(will)),
            will_retain=False,
            on_up=self._on_up,
            on_down=lambda reason: sink(Down(reason)),
        )
        t = self.topics
        self._retained(t.all_incidents(), "incident", IncidentState)
        self._retained(t.all_timelines(), "timeline", IncidentTimeline)
        self._retained(t.all_unitstates(), "unitstate", UnitHealth)
        self._retained(t.all_presence(), "presence", PresenceState)
        self.link.subscribe(t.risks_of(person_id), self._on_risk, QOS)  # the ACL lets me read only mine
        self.link.subscribe(t.console_status(), self._on_console, QOS)
        self.link.subscribe(t.person_notify(person_id), self._typed(Notification), QOS)
        self.link.subscribe(t.person_reply(person_id), self._typed(CommandReply), QOS)
        self.link.subscribe(t.person_registrations(person_id), self._on_todo, QOS)

    # -- receiving ---------------------------------------------------------------
    def _retained(self, topic_filter: str, kind: str, model: type[Payload]) -> None:
        def handle(topic: str, payload: bytes) -> None:
            ident = self.topics.parse_tail(topic, kind)
            if ident is None:
                return
            if not payload:
                self._sink(Cleared(kind, ident))
                return
            self._parse(topic, payload, model)

        self.link.subscribe(topic_filter, handle, QOS)

    def _on_risk(self, topic: str, payload: bytes) -> None:
        """My copy of a running risky conversation (retained), or its clearing."""
        parsed = self.topics.parse_risk(topic)
        if parsed is None or parsed[0] != self.person_id:
            return
        if not payload:
            self._sink(Cleared("risk", parsed[1]))
            return
        self._parse(topic, payload, RiskState)

    def _on_console(self, topic: str, payload: bytes) -> None:
        if not payload:
            self._sink(Cleared("console", ""))
            return
        self._parse(topic, payload, ConsoleStatus)

    def _on_todo(self, topic: str, payload: bytes) -> None:
        """My registrations to complete (retained; an empty payload: none left)."""
        if not payload:
            self._sink(Cleared("registrations", self.person_id))
            return
        self._parse(topic, payload, RegistrationTodo)

    def _typed(self, model: type[Payload]) -> Callable[[str, bytes], None]:
        return lambda topic, payload: self._parse(topic, payload, model)

    def _parse(self, topic: str, payload: bytes, model: type[Payload]) -> None:
        try:
            msg = parse(model, payload)
        except ContractError as exc:
            log.warning("ignored invalid message on %s: %s", topic, exc)
            self._sink(Bad(topic, str(exc)))
            return
        self._sink(Got(msg))

    # -- lifecycle ---------------------------------------------------------------
    def _link_cmd(self, online: bool) -> ConsoleLinkCmd:
        return ConsoleLinkCmd.model_validate(
            {**self._head(), "console_id": self.console_id, "online": online}
        )

    def _on_up(self) -> None:
        """Connected: tell the console service this person has a live console."""
        self._send(self._link_cmd(online=True))
        self._sink(Up())

    def start(self) -> None:
        self.link.start()

    def stop(self) -> None:
        """Say goodbye (so the service counts this console as gone), then disconnect."""
        if self.link.connected.is_set():
            self.link.publish(
                self.topics.person_cmd(self.person_id), encode(self._link_cmd(online=False)), qos=1
            ).wait_for_publish(1.0)
        self.link.stop(timeout=1.0)

    @property
    def connected(self) -> bool:
        return self.link.connected.is_set()

    # -- commands ----------------------------------------------------------------
    def _send(self, cmd: BaseModel) -> None:
        self.link.publish(self.topics.person_cmd(self.person_id), encode(cmd), qos=1)

    def _head(self) -> dict[str, object]:
        return {"cmd_id": new_id(), "person_id": self.person_id, "issued_at": utcnow()}

    def ack(self, incident_id: str) -> uuid.UUID:
        """'Ik kom' for one incident; returns the command id (to match the reply)."""
        cmd = AckCmd.model_validate({**self._head(), "incident_id": incident_id})
        self._send(cmd)
        return cmd.cmd_id

    def decline(self, incident_id: str) -> uuid.UUID:
        """'Kan niet komen' for one incident I was notified for; returns the command id."""
        cmd = DeclineCmd.model_validate({**self._head(), "incident_id": incident_id})
        self._send(cmd)
        return cmd.cmd_id

    def on_site(self, incident_id: str) -> uuid.UUID:
        """'Ter plaatse' for the incident I acknowledged; returns the command id."""
        cmd = OnSiteCmd.model_validate({**self._head(), "incident_id": incident_id})
        self._send(cmd)
        return cmd.cmd_id

    def resolve(self, incident_id: str, registration: Registration) -> uuid.UUID:
        cmd = ResolveCmd.model_validate(
            {**self._head(), "incident_id": incident_id, "registration": registration}
        )
        self._send(cmd)
        return cmd.cmd_id

    def registration_complete(self, cmd: RegistrationCompleteCmd) -> uuid.UUID:
        """The lead's part of a registration (validated by the caller with the CLI's own model)."""
        if cmd.person_id != self.person_id:
            raise ValueError(f"a command of {cmd.person_id} on {self.person_id}'s console")
        self._send(cmd)
        return cmd.cmd_id

    def visit_answer(self, visit_id: str, reached: bool) -> uuid.UUID:
        """'Bereikt, alles ok' (reached) or 'geen antwoord' for an overdue home visit."""
        cmd = VisitAnswerCmd.model_validate({**self._head(), "visit_id": visit_id, "reached": reached})
        self._send(cmd)
        return cmd.cmd_id

    def risk_confirm(self, risk_id: str) -> uuid.UUID:
        """Confirm a risky conversation I stand by for."""
        cmd = RiskConfirmCmd.model_validate({**self._head(), "risk_id": risk_id})
        self._send(cmd)
        return cmd.cmd_id

    def presence(self, present: bool) -> uuid.UUID:
        cmd = PresenceCmd.model_validate({**self._head(), "present": present})
        self._send(cmd)
        return cmd.cmd_id

    def test_start(self, scope: TestScope, target: str | None, minutes: float) -> uuid.UUID:
        cmd = TestStartCmd.model_validate(
            {**self._head(), "scope": scope, "target": target, "minutes": minutes}
        )
        self._send(cmd)
        return cmd.cmd_id

    def test_stop(self, campaign_id: str | None) -> uuid.UUID:
        cmd = TestStopCmd.model_validate({**self._head(), "campaign_id": campaign_id})
        self._send(cmd)
        return cmd.cmd_id


def _this_pc() -> str:
    """A console id for this PC (hash of the host name; ids appear in topics and logs)."""
    return "pc-" + hashlib.sha256(socket.gethostname().encode()).hexdigest()[:12]
