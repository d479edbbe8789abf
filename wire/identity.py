"""Whose client id is whose: every MQTT client id is bound to its login.

The broker refuses a connection unless its client id is the username itself (the console,
the desk units) or the username + CLIENT_ID_SEPARATOR + a suffix (a person's several
consoles and one-shot commands, monitoring, tests). The separator cannot occur in a username
(usernames are `console`, `observer`, `unit-<id>`, `person-<id>` and ids match
stilalarm.wire.messages.ID_PATTERN, lowercase letters, digits and dashes), so a client id names its
owner unambiguously: no login can take another identity's session. Enforced by the broker
plugin built from broker_config/clientid_plugin.c; this module is the one place the rule's
separator is defined (the rendered config passes it to the plugin).

One more id belongs to one login: a key fingerprint (32 lowercase hex digits) is the client id of
an enrolling Pi, login `enroll` (stilalarm.wire.enroll; the mosquitto ACL's `%c` patterns then
name its enrolment topics). No username has that form, so it names no other login's client.

The cluster profile's broker (NATS 2.9) cannot check this rule: it takes any client id from any
login, and a second connection with a client id drops the first. There every client id is made
unguessable instead (docs/HA.md): each login's persistent session gets a secret suffix from
`alarm-broker render --profile cluster` (`BrokerCredentials.client_id`), and every other client
(a TUI, a one-shot command) a random one of at least 64 bits (`random_suffix`), on both profiles.
"""

from __future__ import annotations

import secrets

from stilalarm.wire.enroll import ENROLL_USER, is_fingerprint

CLIENT_ID_SEPARATOR = "."
"""Between a username and a client id's suffix; never part of an id (see ID_PATTERN)."""
SECRET_SUFFIX_BYTES = 16
"""A rendered session's secret suffix: 128 random bits, written as 32 hex digits."""
MIN_SECRET_SUFFIX = 16
"""Shortest secret suffix a client config may carry (16 hex digits: 64 bits)."""
RANDOM_SUFFIX_BYTES = 8
"""A per-run client's random part: 64 bits, written as 16 hex digits."""
REGION_SEPARATOR = "@"
"""In a region (many sites on one cluster, docs/HA.md): between a login and its site's id."""


def region_login(user: str, site_id: str) -> str:
    """A site's login on a region's cluster, where user names are global: `unit-balie-1@<site>`."""
    return f"{user}{REGION_SEPARATOR}{site_id}"


def client_id(username: str, suffix: str) -> str:
    """A client id owned by `username`: `username.suffix` (e.g. `person-an.tui-1a2b3c4d5e6f7a8b`).

    Use it for every client that may run more than once per login (with `random_suffix`); a
    client that is the only one of its login (the console service, a desk unit) connects with
    `BrokerCredentials.session_client_id()`: the rendered secret id, or the bare username.
    """
    if not suffix:
        raise ValueError("a client id suffix must not be empty")
    return f"{username}{CLIENT_ID_SEPARATOR}{suffix}"


def owns(username: str, cid: str) -> bool:
    """Whether the broker lets `username` connect with client id `cid` (the plugin's rule)."""
    if not username or CLIENT_ID_SEPARATOR in username:
        return False
    if username == ENROLL_USER and is_fingerprint(cid):
        return True
    return cid == username or cid.startswith(username + CLIENT_ID_SEPARATOR)


def secret_suffix() -> str:
    """A new secret suffix for a login's session client id (`alarm-broker render`)."""
    return secrets.token_hex(SECRET_SUFFIX_BYTES)


def random_suffix(kind: str) -> str:
    """A suffix for a client that runs once or many times per login (a TUI, a CLI command):
    `kind-` + 64 random bits, so nobody can guess it and take the connection over."""
    return f"{kind}-{secrets.token_hex(RANDOM_SUFFIX_BYTES)}"
