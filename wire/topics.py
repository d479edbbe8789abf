"""Every MQTT topic string of stilalarm is built here, and nowhere else.

Scheme (version 1), with `S` the site id:

    stilalarm/v1/S/unit/U/event        unit -> console   QoS1  alarm, test, fault, tamper (outbox)
    stilalarm/v1/S/unit/U/status       unit -> all       QoS1  retained online/offline (birth + will)
    stilalarm/v1/S/unit/U/heartbeat    unit -> console   QoS0  periodic health
    stilalarm/v1/S/unit/U/receipt      console -> unit   QoS1  "event E is stored as incident I"
    stilalarm/v1/S/unit/U/cmd          console -> unit   QoS1  test mode, LED, identify
    stilalarm/v1/S/unit/U/config       console -> unit   QoS1  retained versioned config (no secrets)
    stilalarm/v1/S/person/P/cmd        person -> console QoS1  ack, resolve, presence, test start/stop
    stilalarm/v1/S/person/P/webcmd     alarm-web -> console QoS1  only P's home-visit start / end
    stilalarm/v1/S/person/P/reply      console -> person QoS1  accepted / rejected with reason
    stilalarm/v1/S/person/P/notify     console -> person QoS1  "alarm in room R, level L"
    stilalarm/v1/S/person/P/registrations  console -> person QoS1  retained: the registrations P
                                       may complete that still lack the lead's part (only P reads it)
    stilalarm/v1/S/incident/I          console -> all    QoS1  retained incident state
    stilalarm/v1/S/timeline/I          console -> all    QoS1  retained incident timeline (history)
    stilalarm/v1/S/unitstate/U         console -> all    QoS1  retained unit health (console's view)
    stilalarm/v1/S/presence/P          console -> all    QoS1  retained presence of a person
    stilalarm/v1/S/risk/P/R            console -> person QoS1  retained running risky conversation R,
                                                              one copy per person P told of it
    stilalarm/v1/S/console/status      console -> all    QoS1  retained service online/offline
    stilalarm/v1/S/enroll/F/request    Pi -> console     QoS1  retained enrolment request (key fingerprint F)
    stilalarm/v1/S/enroll/F/reply      console -> Pi     QoS1  retained answer, credentials sealed to F's key

Enrolment topics are named by the Pi's key fingerprint F alone (enrolment protocol 2, issue 18;
protocol 1 named them by the client id `enroll.F`, and NATS refuses a `.` in a topic).

The identity in `unit/U/...` and `person/P/...` is enforced by the broker ACL
(each unit and person has its own credentials and may only publish under its own
id); the console checks it again against the inventory.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

ROOT = "stilalarm"
VERSION = "v1"


class UnitChannel(StrEnum):
    EVENT = "event"
    STATUS = "status"
    HEARTBEAT = "heartbeat"
    RECEIPT = "receipt"
    CMD = "cmd"
    CONFIG = "config"


class PersonChannel(StrEnum):
    CMD = "cmd"
    WEBCMD = "webcmd"  # sent by alarm-web for a person with a panic-page token: home visits only
    REPLY = "reply"
    NOTIFY = "notify"
    REGISTRATIONS = "registrations"  # retained, console -> that person only: registrations to complete


@dataclass(frozen=True)
class Topics:
    """Topic builder for one site. Construct once; every method returns a topic string."""

    site: str

    @property
    def base(self) -> str:
        """The prefix every topic of this site starts with."""
        return f"{ROOT}/{VERSION}/{self.site}"

    # -- per unit ----------------------------------------------------------
    def unit(self, unit_id: str, channel: UnitChannel) -> str:
        return f"{self.base}/unit/{unit_id}/{channel.value}"

    def unit_event(self, unit_id: str) -> str:
        return self.unit(unit_id, UnitChannel.EVENT)

    def unit_status(self, unit_id: str) -> str:
        return self.unit(unit_id, UnitChannel.STATUS)

    def unit_heartbeat(self, unit_id: str) -> str:
        return self.unit(unit_id, UnitChannel.HEARTBEAT)

    def unit_receipt(self, unit_id: str) -> str:
        return self.unit(unit_id, UnitChannel.RECEIPT)

    def unit_cmd(self, unit_id: str) -> str:
        return self.unit(unit_id, UnitChannel.CMD)

    def unit_config(self, unit_id: str) -> str:
        """Retained, versioned config of one unit: only the console writes, only that unit reads."""
        return self.unit(unit_id, UnitChannel.CONFIG)

    def all_units(self, channel: UnitChannel) -> str:
        """Subscription filter for one channel of every unit."""
        return f"{self.base}/unit/+/{channel.value}"

    # -- per person --------------------------------------------------------
    def person(self, person_id: str, channel: PersonChannel) -> str:
        return f"{self.base}/person/{person_id}/{channel.value}"

    def person_cmd(self, person_id: str) -> str:
        return self.person(person_id, PersonChannel.CMD)

    def person_webcmd(self, person_id: str) -> str:
        """alarm-web's channel for a person's home-visit commands (the console takes nothing else)."""
        return self.person(person_id, PersonChannel.WEBCMD)

    def person_reply(self, person_id: str) -> str:
        return self.person(person_id, PersonChannel.REPLY)

    def person_notify(self, person_id: str) -> str:
        return self.person(person_id, PersonChannel.NOTIFY)

    def person_registrations(self, person_id: str) -> str:
        """Retained: the registrations this person may complete that lack the lead's part (read by
        this person's login only; the content is private, docs/REGISTRATION.md)."""
        return self.person(person_id, PersonChannel.REGISTRATIONS)

    def all_people(self, channel: PersonChannel) -> str:
        """Subscription filter for one channel of every person."""
        return f"{self.base}/person/+/{channel.value}"

    def all_person_cmds(self) -> str:
        """Subscription filter for every person's commands (console only)."""
        return self.all_people(PersonChannel.CMD)

    def all_person_webcmds(self) -> str:
        """Subscription filter for the home-visit commands alarm-web sends (console only)."""
        return self.all_people(PersonChannel.WEBCMD)

    # -- console-published state (retained) --------------------------------
    def incident(self, incident_id: str) -> str:
        return f"{self.base}/incident/{incident_id}"

    def all_incidents(self) -> str:
        return f"{self.base}/incident/+"

    def timeline(self, incident_id: str) -> str:
        return f"{self.base}/timeline/{incident_id}"

    def all_timelines(self) -> str:
        return f"{self.base}/timeline/+"

    def unitstate(self, unit_id: str) -> str:
        return f"{self.base}/unitstate/{unit_id}"

    def all_unitstates(self) -> str:
        return f"{self.base}/unitstate/+"

    def presence(self, person_id: str) -> str:
        return f"{self.base}/presence/{person_id}"

    def all_presence(self) -> str:
        return f"{self.base}/presence/+"

    def risk(self, person_id: str, risk_id: str) -> str:
        """Person P's retained copy of a running risky conversation (only P and the console may use it)."""
        return f"{self.base}/risk/{person_id}/{risk_id}"

    def risks_of(self, person_id: str) -> str:
        """Subscription filter for the running risky conversations one person was told of."""
        return f"{self.base}/risk/{person_id}/+"

    def all_risks(self) -> str:
        """Filter for every person's copies (the console's ACL)."""
        return f"{self.base}/risk/+/+"

    def console_status(self) -> str:
        return f"{self.base}/console/status"

    # -- enrolment of a new desk unit (docs/ENROLLMENT.md) ------------------
    def enroll_request(self, fingerprint: str) -> str:
        """Where the Pi whose key has this fingerprint asks to be enrolled.

        Its client id is the fingerprint too: mosquitto's ACL grants the topic with a `pattern`
        line, `fingerprint` being `%c` there. NATS grants every enrolling Pi `enroll/+/request`:
        the console checks that the request's key has this fingerprint.
        """
        return f"{self.base}/enroll/{fingerprint}/request"

    def enroll_reply(self, fingerprint: str) -> str:
        """Where that Pi reads the console's answer (sealed to the key with this fingerprint)."""
        return f"{self.base}/enroll/{fingerprint}/reply"

    def all_enroll_requests(self) -> str:
        """Subscription filter for every pending enrolment request (console only)."""
        return f"{self.base}/enroll/+/request"

    def all_enroll_replies(self) -> str:
        """Filter for every enrolment answer (the console writes them)."""
        return f"{self.base}/enroll/+/reply"

    def parse_enroll_request(self, topic: str) -> str | None:
        """The level after `enroll/` in an enrolment request topic of this site, else None: a
        fingerprint (protocol 2), or anything else a client put there (`enroll.F` of protocol 1)."""
        head, tail = f"{self.base}/enroll/", "/request"
        if not (topic.startswith(head) and topic.endswith(tail)):
            return None
        cid = topic[len(head) : -len(tail)]
        return cid if cid and "/" not in cid else None

    def everything(self) -> str:
        """Filter for every topic of this site (the read-only observer)."""
        return f"{self.base}/#"

    # -- parsing -----------------------------------------------------------
    def parse_unit(self, topic: str) -> tuple[str, UnitChannel] | None:
        """(unit id, channel) for a unit topic of this site, else None."""
        parts = topic.split("/")
        prefix = self.base.split("/")
        if len(parts) != len(prefix) + 3 or parts[: len(prefix)] != prefix:
            return None
        if parts[len(prefix)] != "unit":
            return None
        try:
            return parts[len(prefix) + 1], UnitChannel(parts[len(prefix) + 2])
        except ValueError:
            return None

    def parse_person(self, topic: str) -> tuple[str, PersonChannel] | None:
        """(person id, channel) for a person topic of this site, else None."""
        parts = topic.split("/")
        prefix = self.base.split("/")
        if len(parts) != len(prefix) + 3 or parts[: len(prefix)] != prefix:
            return None
        if parts[len(prefix)] != "person":
            return None
        try:
            return parts[len(prefix) + 1], PersonChannel(parts[len(prefix) + 2])
        except ValueError:
            return None

    def parse_risk(self, topic: str) -> tuple[str, str] | None:
        """(person id, risk id) of a `risk/P/R` topic of this site, else None."""
        head = f"{self.base}/risk/"
        if not topic.startswith(head):
            return None
        parts = topic[len(head) :].split("/")
        if len(parts) != 2 or not all(parts):
            return None
        return parts[0], parts[1]

    def parse_tail(self, topic: str, kind: str) -> str | None:
        """The id in `base/<kind>/<id>` (incident, unitstate, presence), else None."""
        head = f"{self.base}/{kind}/"
        if not topic.startswith(head):
            return None
        tail = topic[len(head) :]
        return tail if tail and "/" not in tail else None
