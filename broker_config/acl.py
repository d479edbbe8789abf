"""The broker's logins and the ACL: who may publish and subscribe to which topics.

Each client may publish only under its own identity; every user gets an explicit block, so a
typo cannot widen access. `stilalarm.broker_config.render` writes the ACL file.

The one exception is enrolment (docs/ENROLLMENT.md): two `pattern` lines with `%c` give every
client its own enrolment request (write) and reply (read) topic, named by its client id. A Pi
that is not enrolled yet logs in as `enroll` (a public password) with its key's fingerprint
(32 lowercase hex digits) as client id, and its topics are `enroll/<fingerprint>/request|reply`
(enrolment protocol 2). The broker's plugin refuses any client id that is not the username, the
username + '.' + a suffix, or, for the `enroll` login only, a fingerprint; no username has that
form, so no login can use another's id without taking over that id (which disconnects the other
and gains nothing: the reply is sealed to the other's key, and the console takes a request only
when its key has the fingerprint of its topic). Explicit `user` lines cannot do this: one
`enroll` block would let every enrolling Pi write every other Pi's request topic. Mosquitto
2.0.11 applies `pattern` lines to every login, so the console, units and people also get
`enroll/<their client id>/...`; a request posted there is refused by the console (not a
fingerprint) and one the public `enroll` login could post anyway. NATS 2.9 has no `%c`: the
cluster profile gives `enroll` `enroll/+/...` and relies on the console's check (docs/HA.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from stilalarm.inventory.kinds import Via
from stilalarm.inventory.model import Site
from stilalarm.wire.enroll import ENROLL_USER
from stilalarm.wire.topics import PersonChannel, Topics, UnitChannel

CONSOLE_USER = "console"
OBSERVER_USER = "observer"
WEB_USER = "web"
"""alarm-web: speaks for every web unit (via = phone / app); those units have no login of their own."""
UNIT_PREFIX = "unit-"
PERSON_PREFIX = "person-"
LIMITED_PREFIXES = (UNIT_PREFIX, PERSON_PREFIX, ENROLL_USER)
"""Logins whose publish rate the broker plugin limits ([broker] publish_burst / _rate_per_s);
never the console or the observer. All enrolling Pis share the one `enroll` login's bucket."""


def unit_user(unit_id: str) -> str:
    """MQTT username of a unit."""
    return f"{UNIT_PREFIX}{unit_id}"


def person_user(person_id: str) -> str:
    """MQTT username of a person (their console / CLI)."""
    return f"{PERSON_PREFIX}{person_id}"


def usernames(site: Site) -> list[str]:
    """Every MQTT user the site needs, console first."""
    return [
        CONSOLE_USER,
        OBSERVER_USER,
        *([WEB_USER] if site.web is not None else []),
        *(unit_user(u.id) for u in site.units if u.via is Via.GPIO),
        *(person_user(p.id) for p in site.people),
    ]


@dataclass(frozen=True)
class Grant:
    """One ACL line: `access` (read / write / readwrite) on an MQTT topic filter."""

    access: Literal["read", "write", "readwrite"]
    topic: str


@dataclass(frozen=True)
class UserRules:
    """Everything one login may do; `comment` is written above its block."""

    user: str
    grants: tuple[Grant, ...]
    comment: str = ""


def _r(topic: str) -> Grant:
    return Grant("read", topic)


def _w(topic: str) -> Grant:
    return Grant("write", topic)


def _rw(topic: str) -> Grant:
    return Grant("readwrite", topic)


def acl_rules(site: Site) -> list[UserRules]:
    """Who may do what, per login: the one source both broker profiles render (mosquitto's acl
    file here, the cluster's NATS permissions in broker_config/cluster.py)."""
    t = Topics(site.site.id)
    rules = [
        UserRules(
            CONSOLE_USER,
            (
                _r(t.all_units(UnitChannel.EVENT)),
                _r(t.all_units(UnitChannel.STATUS)),
                _r(t.all_units(UnitChannel.HEARTBEAT)),
                _w(t.all_units(UnitChannel.RECEIPT)),
                _w(t.all_units(UnitChannel.CMD)),
                _w(t.all_units(UnitChannel.CONFIG)),
                _r(t.all_people(PersonChannel.CMD)),
                _r(t.all_people(PersonChannel.WEBCMD)),
                _w(t.all_people(PersonChannel.REPLY)),
                _w(t.all_people(PersonChannel.NOTIFY)),
                _w(t.all_people(PersonChannel.REGISTRATIONS)),
                _rw(t.all_incidents()),
                _rw(t.all_timelines()),
                _rw(t.all_unitstates()),
                _rw(t.all_presence()),
                _rw(t.console_status()),
                _w(t.all_risks()),
                _rw(t.all_enroll_requests()),
                _rw(t.all_enroll_replies()),
            ),
        ),
        UserRules(
            OBSERVER_USER,
            (_r(t.everything()),),
            "read-only view of everything (monitoring, benchmarks, tests)",
        ),
    ]
    if site.web is not None:
        web: list[Grant] = []
        for u in site.units:
            if u.via is Via.GPIO:
                continue
            web += [
                _w(t.unit_event(u.id)),
                _w(t.unit_status(u.id)),
                _w(t.unit_heartbeat(u.id)),
                _r(t.unit_receipt(u.id)),
                _r(t.unit_cmd(u.id)),
            ]
        # home visits from the phone page, for each person with a live token: their visit commands
        # (on webcmd, where the console takes nothing but visit start / end) and the replies
        for pid in dict.fromkeys(tk.person for tk in site.web.tokens if tk.person and not tk.revoked):
            web += [_w(t.person_webcmd(pid)), _r(t.person_reply(pid))]
        rules.append(
            UserRules(
                WEB_USER, tuple(web), "alarm-web: the outbox of every web unit (desk phones, panic pages)"
            )
        )
    for u in site.units:
        if u.via is not Via.GPIO:
            continue
        rules.append(
            UserRules(
                unit_user(u.id),
                (
                    _w(t.unit_event(u.id)),
                    _w(t.unit_status(u.id)),
                    _w(t.unit_heartbeat(u.id)),
                    _r(t.unit_receipt(u.id)),
                    _r(t.unit_cmd(u.id)),
                    _r(t.unit_config(u.id)),
                ),
            )
        )
    for p in site.people:
        rules.append(
            UserRules(
                person_user(p.id),
                (
                    _w(t.person_cmd(p.id)),
                    _r(t.person_reply(p.id)),
                    _r(t.person_notify(p.id)),
                    _r(t.person_registrations(p.id)),
                    _r(t.all_incidents()),
                    _r(t.all_timelines()),
                    _r(t.all_unitstates()),
                    _r(t.all_presence()),
                    _r(t.console_status()),
                    _r(t.risks_of(p.id)),  # only the risky conversations P was told of
                ),
            )
        )
    return rules


CLIENT_ID_PATTERN = "%c"
"""Stands for the connecting client's id in `enroll_patterns` (mosquitto's `pattern` syntax)."""


def enroll_patterns(site: Site) -> tuple[Grant, ...]:
    """Enrolment: every client may write its own request and read its own reply (by client id)."""
    t = Topics(site.site.id)
    return (_w(t.enroll_request(CLIENT_ID_PATTERN)), _r(t.enroll_reply(CLIENT_ID_PATTERN)))


def render_acl(site: Site) -> str:
    """The ACL: each client may publish only under its own identity (read by mosquitto)."""
    out = [
        "# Generated by `alarm-broker render` from the site inventory. Do not edit.",
        "# Every user gets an explicit block, so a typo cannot widen access. The two `pattern`",
        "# lines at the end are for enrolment only (see broker_config/acl.py).",
        "",
    ]
    for rules in acl_rules(site):
        if rules.comment:
            out.append(f"# {rules.comment}")
        out.append(f"user {rules.user}")
        out += [f"topic {g.access} {g.topic}" for g in rules.grants]
        out.append("")
    out += [
        f"# Enrolment: the `{ENROLL_USER}` login has no block of its own; every client (an enrolling Pi:",
        "# client id = its key fingerprint) may write its own request and read its own reply, nothing else.",
        *(f"pattern {g.access} {g.topic}" for g in enroll_patterns(site)),
        "",
    ]
    return "\n".join(out)
