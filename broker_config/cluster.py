"""The `cluster` broker profile: NATS (2.9, Debian 12's `nats-server`) with JetStream and its MQTT
listener, one config per node, rendered from the same site.toml and the same ACL source
(`acl.acl_rules`) as the default mosquitto profile. docs/HA.md explains the choices.

Output layout (`alarm-broker render --profile cluster --site site.toml --out DIR`):

    DIR/nodes/<name>/nats.conf  0600  one node's config; it includes DIR/accounts.conf
    DIR/accounts.conf  0600           the logins and their permissions, shared by every node
                                      (passwords in plain text: NATS 2.9 would otherwise need
                                      bcrypt hashes); enrolment rewrites it with a unit's new
                                      password (`new_unit_password`), then every node reloads
    DIR/nodes/<name>/jetstream/       that node's JetStream store
    DIR/nodes.json                    every node's MQTT address (for clients with address lists)
    DIR/console-log.json  0600        the consoles' log login (native NATS): every node's NATS
                                      client address (stilalarm.console.ha.jetstream.ClusterLogCredentials)
    DIR/console-enroll.json  0600     `alarm-console enroll`'s login, in the enrolment account (the
                                      public `enroll` login's, with a JetStream quota: docs/HA.md 11)
    DIR/secrets.json   0600           the generated passwords and each login's secret client-id
                                      suffix (both kept across re-renders, new with --rotate)
    DIR/console.json, observer.json, web.json, units/U.json, people/P.json   0600  client configs
                                      (every node, the first preferred; each with its login's
                                      secret `client_id`; see docs/HA.md)

Permissions: an MQTT topic filter becomes a NATS subject (`/` -> `.`, `+` -> `*`, `#` -> `>`; `a/#`
also needs `a` itself, as in MQTT `a/#` matches `a`). Every
login that may subscribe also gets `$MQTT.sub.>`: a QoS1 subscription is a JetStream consumer that
delivers to `$MQTT.sub.<random>` on the client's own connection, and NATS checks that subscription
against the client's permissions (measured: without it the SUBACK is a failure, "Unable to create
subscription for JetStream consumer ... subscribe permission violation"). An MQTT client cannot
name such a subject itself: a SUBSCRIBE to `$MQTT/sub/#` is refused (tests/broker/test_cluster.py).
Nothing else internal is needed: sessions, retained messages and QoS1 storage are written by the
account's internal client, not with the login's permissions.

The consoles' log (console/ha/jetstream.py: the replicated facts stream and the lease KV bucket)
uses a login of its own, `console-log`, over the NATS protocol (never MQTT; the MQTT logins are
refused on the NATS port): `log_permissions` allows only the JetStream API calls of its own stream
and bucket, their subjects, and `_INBOX.>` for the replies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from stilalarm.broker_config.acl import (
    CLIENT_ID_PATTERN,
    Grant,
    UserRules,
    acl_rules,
    enroll_patterns,
    usernames,
)
from stilalarm.broker_config.render import (
    MESSAGE_SIZE_LIMIT,
    Endpoint,
    RenderError,
    _write,
    load_or_make_secrets,
    write_client_configs,
)
from stilalarm.broker_config.web import token_key
from stilalarm.inventory.model import Site
from stilalarm.inventory.policies import ClusterInfo, ClusterNode
from stilalarm.wire.credentials import BrokerAddress, BrokerCredentials
from stilalarm.wire.enroll import ENROLL_PASSWORD, ENROLL_USER
from stilalarm.wire.streams import (
    MQTT_MSGS_STREAM,
    facts_subject,
    lease_bucket,
    presence_subject,
    snapshot_stream,
    snapshot_subject,
    stream_name,
)
from stilalarm.wire.topics import Topics

ACCOUNT = "STILALARM"
SYSTEM_ACCOUNT = "SYS"
ROUTE_USER = "route"
SYSTEM_USER = "system"
CONSOLE_LOG_USER = "console-log"
"""The consoles' native-NATS login for the facts log and the lease (console/ha/jetstream.py)."""
CONSOLE_ENROLL_USER = "console-enroll"
"""`alarm-console enroll`'s login on the cluster: in the enrolment account, beside `enroll`."""
MEMORY_STORE_BYTES = 256 * 1024 * 1024
"""JetStream's memory store per node (the MQTT streams, consumers and the consoles' log use files)."""
ENROLL_STORE_BYTES = 8 * 1024 * 1024
"""The enrolment account's JetStream quota (file and memory): a flood of retained requests with
the public `enroll` login fills this, not the store the alarms use (docs/HA.md, item 11)."""
MQTT_DELIVERY = "$MQTT.sub.>"
"""Where JetStream delivers a login's QoS1 subscriptions (its own connection subscribes to it)."""
SCOPE_FILE = "region.json"
"""In a region's site directory: the site's account and login suffix (broker_config/region.py)."""


@dataclass(frozen=True)
class Scope:
    """Where a site's logins live on the cluster: its NATS account and the suffix on every login.

    A site alone on its cluster: account STILALARM, the logins as on mosquitto. A site of a region
    (many sites on one cluster, broker_config/region.py): an account of its own and `@<site id>`
    on every login, because NATS user names are global to a server."""

    account: str = ACCOUNT
    suffix: str = ""
    store_bytes: int = 0
    """The account's JetStream file quota, 0 for none (memory in proportion). nats-server counts
    every replica on every node against it, so a region gives each site the nodes' stores together
    divided by the sites: an equal share of each node's store, and one site's logins cannot fill
    the others'."""

    def login(self, user: str) -> str:
        """The NATS/MQTT user name of the site's login `user`."""
        return user + self.suffix

    @property
    def in_region(self) -> bool:
        return bool(self.suffix)


def scope_of(out: Path) -> Scope:
    """The scope a rendered cluster directory was written for (a region's site dir has region.json)."""
    path = out / SCOPE_FILE
    if not path.exists():
        return Scope()
    data = json.loads(path.read_text(encoding="utf-8"))
    return Scope(str(data["account"]), str(data["login_suffix"]), int(data.get("store_bytes", 0)))


class TopicError(ValueError):
    """An MQTT topic that has no NATS subject (a `.` or a space in it)."""


def subject(topic: str) -> str:
    """The NATS subject of an MQTT topic filter: `/` -> `.`, `+` -> `*`, `#` -> `>`."""
    if "." in topic or " " in topic:
        raise TopicError(f"{topic!r}: NATS 2.9 refuses '.' and ' ' in MQTT topics")
    levels = topic.split("/")
    return ".".join("*" if lv == "+" else ">" if lv == "#" else lv for lv in levels)


def subjects(topic: str) -> tuple[str, ...]:
    """The NATS subjects an MQTT filter needs. `a/#` also matches `a` itself in MQTT, and NATS
    subscribes to both `a` and `a.>` for it (and refuses the SUBSCRIBE unless both are allowed)."""
    if topic == "#":
        return (">",)
    if topic.endswith("/#"):
        return (subject(topic[:-2]), subject(topic))
    return (subject(topic),)


@dataclass(frozen=True)
class Permissions:
    """One login's NATS permissions: allowed publish and subscribe subjects."""

    user: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def permissions(rules: UserRules) -> Permissions:
    """The NATS permissions equivalent to one ACL block (acl.acl_rules)."""
    pub = tuple(s for g in rules.grants if g.access in ("write", "readwrite") for s in subjects(g.topic))
    sub = tuple(s for g in rules.grants if g.access in ("read", "readwrite") for s in subjects(g.topic))
    return Permissions(rules.user, pub, (*sub, MQTT_DELIVERY) if sub else sub)


def enroll_permissions(site: Site) -> Permissions:
    """The public `enroll` login. mosquitto binds its topics to the client id (`%c`, the key
    fingerprint); NATS 2.9 has no such template for config users, so the fingerprint level becomes
    `*`: any enrolling Pi may write any request and read any reply. Safe because a reply is sealed
    to the key of its request, and the console takes a request only when its key has the
    fingerprint its topic names (docs/HA.md, docs/ENROLLMENT.md)."""
    grants = tuple(Grant(g.access, g.topic.replace(CLIENT_ID_PATTERN, "+")) for g in enroll_patterns(site))
    return permissions(UserRules(ENROLL_USER, grants))


def all_permissions(site: Site) -> list[Permissions]:
    """Every login's permissions, from the same source as mosquitto's acl file."""
    return [*(permissions(r) for r in acl_rules(site)), enroll_permissions(site)]


def site_permissions(site: Site) -> list[Permissions]:
    """The logins of the site's own account: every ACL login but `enroll`, without the enrolment
    topics (on the cluster enrolment lives in an account of its own, `console-enroll`'s: a grant
    for them here would be one nobody uses)."""
    t = Topics(site.site.id)
    enrolment = {t.all_enroll_requests(), t.all_enroll_replies()}
    return [
        permissions(replace(r, grants=tuple(g for g in r.grants if g.topic not in enrolment)))
        for r in acl_rules(site)
    ]


def log_permissions(site: Site) -> Permissions:
    """`console-log`: find or create its streams and bucket, append and read records, store and read
    snapshots, purge its two streams (the log below a snapshot, older snapshots: retention), read and
    write the lease, say and hear which consoles are there (`presence_subject`, core NATS), and find,
    create or limit the site's queued QoS1 messages (`queue_limits`); nothing
    else (no MQTT topic, no other stream, no stream deletion). Measured as the minimal set with
    nats-py 2.16 on nats-server 2.9 (tests/broker/test_cluster_log.py)."""
    sid = site.site.id
    stream, facts, bucket = stream_name(sid), facts_subject(sid), lease_bucket(sid)
    snaps, snap_subject = snapshot_stream(sid), snapshot_subject(sid)
    api = "$JS.API.STREAM"
    publish = tuple(
        f"{api}.{call}.{name}" for name in (stream, f"KV_{bucket}") for call in ("INFO", "CREATE", "MSG.GET")
    )
    own = (f"{api}.PURGE.{stream}", f"{api}.PURGE.{snaps}")
    snap_api = tuple(f"{api}.{call}.{snaps}" for call in ("INFO", "CREATE", "MSG.GET"))
    queue = tuple(f"{api}.{call}.{MQTT_MSGS_STREAM}" for call in ("INFO", "CREATE", "UPDATE"))
    presence = presence_subject(sid)
    return Permissions(
        CONSOLE_LOG_USER,
        (*publish, *snap_api, *own, *queue, facts, snap_subject, f"$KV.{bucket}.active", presence),
        (facts, presence, "_INBOX.>"),
    )


def _q(s: str) -> str:
    return json.dumps(s)


def _list(items: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(_q(i) for i in items) + "]"


def _allow(subjects: tuple[str, ...]) -> str:
    """An allow list; nothing allowed is written as a deny of everything (an empty allow list is
    not something to rely on)."""
    return f"{{ allow: {_list(subjects)} }}" if subjects else '{ deny: [">"] }'


def _user_block(p: Permissions, password: str, connection: str = "MQTT") -> list[str]:
    return [
        "      {",
        f"        user: {_q(p.user)}, password: {_q(password)}",
        f"        allowed_connection_types: [{_q(connection)}]",
        "        permissions: {",
        f"          publish: {_allow(p.publish)}",
        f"          subscribe: {_allow(p.subscribe)}",
        "        }",
        "      }",
    ]


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _mqtt_bind(node: ClusterNode, tls: bool) -> str:
    """Plain MQTT (and plain NATS) only ever on loopback; TLS on every interface (a loopback node
    stays there)."""
    return "127.0.0.1" if not tls or node.host in LOOPBACK else "0.0.0.0"


@dataclass(frozen=True)
class ClusterOptions:
    """Where to write, and the site CA's directory (ca.crt, server.crt, server.key) for TLS."""

    out: Path
    tls_dir: Path | None = None
    rotate: bool = False


def render_node_conf(
    c: ClusterInfo, node: ClusterNode, route_pw: str, opts: ClusterOptions, of: str = "its site"
) -> str:
    """One node's nats.conf; `of` names what it serves in its header (a site, a region)."""
    out = opts.out.resolve()
    tls = opts.tls_dir.resolve() if opts.tls_dir is not None else None
    others = [n for n in c.nodes if n.name != node.name]
    lines = [
        f"# Generated by `alarm-broker` for node {node.name} of {of}.",
        "# Do not edit: change site.toml ([cluster]) and render again (docs/HA.md).",
        "",
        f"server_name: {_q(node.name)}",
        "# The NATS client port: the consoles' log and lease (login console-log only; units and",
        "# TUIs speak MQTT below). TLS with the site CA on every interface, or plain on loopback.",
        f'listen: "{_mqtt_bind(node, tls is not None)}:{node.nats_port}"',
        f"max_payload: {MESSAGE_SIZE_LIMIT}",
    ]
    if tls is not None:
        lines += [
            "tls {",
            f"  ca_file: {_q(str(tls / 'ca.crt'))}",
            f"  cert_file: {_q(str(tls / 'server.crt'))}",
            f"  key_file: {_q(str(tls / 'server.key'))}",
            "  timeout: 5",
            "}",
        ]
    else:
        lines += ["# Plain, loopback only (tests, development): [broker] use_tls = false."]
    lines += [
        "",
        "# --- JetStream: MQTT sessions, retained and queued QoS1 messages, the consoles' log ----",
        "jetstream {",
        f"  store_dir: {_q(str(out / 'nodes' / node.name / 'jetstream'))}",
        f"  max_file_store: {c.max_file_store_mb * 1024 * 1024}",
        f"  max_memory_store: {MEMORY_STORE_BYTES}",
        "}",
        "",
        "# --- cluster routes: every other node; a route must log in ---------------------------",
        "cluster {",
        f"  name: {_q(c.name)}",
        f'  listen: "{node.host}:{node.route_port}"',
        f"  authorization {{ user: {_q(ROUTE_USER)}, password: {_q(route_pw)} }}",
        "  # Clients use the rendered list of every node (their TLS names), never an address the",
        "  # cluster gossips: what a console or unit reaches is what the site file says.",
        "  no_advertise: true",
        "  routes: [",
        *(f'    "nats-route://{ROUTE_USER}:{route_pw}@{n.host}:{n.route_port}"' for n in others),
        "  ]",
    ]
    if tls is not None:
        lines += [
            "  # Routes carry every message: TLS with the site CA, each node's certificate checked.",
            "  tls {",
            f"    ca_file: {_q(str(tls / 'ca.crt'))}",
            f"    cert_file: {_q(str(tls / 'server.crt'))}",
            f"    key_file: {_q(str(tls / 'server.key'))}",
            "    verify: true",
            "  }",
        ]
    lines += [
        "}",
        "",
        "# --- MQTT: what units, TUIs and the console speak -----------------------------------",
        "mqtt {",
        f'  listen: "{_mqtt_bind(node, tls is not None)}:{node.mqtt_port}"',
        f"  # {c.replicas} replicas: a session, a retained message or a queued QoS1 message survives",
        "  # the loss of a node (with 3 nodes: one).",
        f"  stream_replicas: {c.replicas}",
        f"  consumer_replicas: {c.replicas}",
        "  # File storage for the consumers (each QoS1 subscription): a node's restart keeps them.",
        "  consumer_memory_storage: false",
        f"  max_ack_pending: {c.max_ack_pending}",
        f'  ack_wait: "{c.ack_wait_s}s"',
    ]
    if tls is not None:
        lines += [
            "  # TLS only: NATS has one MQTT listener per node, so there is no plain loopback one.",
            "  tls {",
            f"    ca_file: {_q(str(tls / 'ca.crt'))}",
            f"    cert_file: {_q(str(tls / 'server.crt'))}",
            f"    key_file: {_q(str(tls / 'server.key'))}",
            "    timeout: 5",
            "  }",
        ]
    else:
        lines += ["  # Plain, loopback only (tests, development): [broker] use_tls = false."]
    lines += [
        "}",
        "",
        "# --- logins: the same who-may-do-what as mosquitto's acl (broker_config/acl.py) -------",
        "# In one file for every node: enrolment gives a unit a new password there, and each",
        "# node reloads it on SIGHUP (`alarm-console enroll ... --broker-pid` per node).",
        f"system_account: {SYSTEM_ACCOUNT}",
        "# (nats-server resolves an include relative to this file, never as an absolute path)",
        f"include {_q('../../' + ACCOUNTS_FILE)}",
        "",
        "# Alarm latency over reconnects: a dead client is noticed within 2 x 20 s (MQTT keepalive",
        "# is the client's own; this is for the routes).",
        'ping_interval: "20s"',
        "ping_max: 2",
        "",
    ]
    return "\n".join(lines)


ACCOUNTS_FILE = "accounts.conf"


def console_enroll_permissions(site: Site) -> Permissions:
    """`console-enroll`: read and clear the enrolment requests, write the replies."""
    t = Topics(site.site.id)
    grants = (Grant("readwrite", t.all_enroll_requests()), Grant("readwrite", t.all_enroll_replies()))
    return permissions(UserRules(CONSOLE_ENROLL_USER, grants))


def site_account(site: Site, pw: dict[str, str], scope: Scope) -> list[str]:
    """The site's account block: JetStream, every login (named for `scope`) and its permissions;
    then the site's enrolment account: the public `enroll` login and `console-enroll`, with a
    JetStream quota of their own (what they store cannot fill the alarms' store)."""
    if scope.store_bytes:  # a region's site: its share of every node's store (docs/HA.md, Region)
        mem = MEMORY_STORE_BYTES * scope.store_bytes // site_store_bytes(site)  # the same share
        js = f"    jetstream: {{ max_file: {scope.store_bytes}, max_mem: {mem} }}"
    else:
        js = "    jetstream: enabled"
    lines = [f"  {scope.account} {{", js, "    users: ["]
    for p in site_permissions(site):
        lines += _user_block(replace(p, user=scope.login(p.user)), pw[p.user])
    log = log_permissions(site)
    lines += [
        "      # the consoles' log and lease: native NATS only (console/ha/jetstream.py)",
        *_user_block(replace(log, user=scope.login(log.user)), pw[CONSOLE_LOG_USER], "STANDARD"),
        "    ]",
        "  }",
        "  # Enrolment in an account of its own: the `enroll` password is public, and a retained",
        "  # request is stored in JetStream; the quota bounds what it can fill (docs/HA.md, item 11).",
        f"  {scope.account}_ENROLL {{",
        f"    jetstream: {{ max_file: {ENROLL_STORE_BYTES}, max_mem: {ENROLL_STORE_BYTES} }}",
        "    users: [",
        *_user_block(replace(enroll_permissions(site), user=scope.login(ENROLL_USER)), ENROLL_PASSWORD),
        *_user_block(
            replace(console_enroll_permissions(site), user=scope.login(CONSOLE_ENROLL_USER)),
            pw[CONSOLE_ENROLL_USER],
        ),
        "    ]",
        "  }",
    ]
    return lines


ACCOUNTS_HEADER = (
    "# MQTT topic -> NATS subject: '/' -> '.', '+' -> '*', '#' -> '>'. Every login that may",
    f"# subscribe also gets {MQTT_DELIVERY} (QoS1 delivery; see broker_config/cluster.py).",
)


def system_account(password: str) -> list[str]:
    """The system account block (the nodes' own, no login of a site)."""
    return [
        f"  {SYSTEM_ACCOUNT} {{",
        f"    users: [ {{ user: {_q(SYSTEM_USER)}, password: {_q(password)} }} ]",
        "  }",
    ]


def render_accounts(site: Site, pw: dict[str, str], scope: Scope | None = None) -> str:
    """accounts.conf: the site's account with every login and its permissions, the system account.
    For a site of a region: its account block alone (the region's accounts.conf includes it)."""
    scope = scope or Scope()
    lines = [
        f"# Generated by `alarm-broker` for site {site.site.id}; rewritten by",
        "# `alarm-console enroll approve` and `revoke`. Do not edit (docs/HA.md).",
        *ACCOUNTS_HEADER,
    ]
    if scope.in_region:
        return "\n".join([*lines, *site_account(site, pw, scope), ""])
    return "\n".join(
        [*lines, "accounts {", *system_account(pw[SYSTEM_USER]), *site_account(site, pw, scope), "}", ""]
    )


def write_accounts(site: Site, out: Path, pw: dict[str, str]) -> Path:
    """Write DIR/accounts.conf (0600) for the scope `out` was rendered for; the nodes use it after
    a reload (SIGHUP)."""
    path = out / ACCOUNTS_FILE
    _write(path, render_accounts(site, pw, scope_of(out)), 0o600)
    return path


def is_cluster_dir(out: Path) -> bool:
    """Whether `out` was rendered with `--profile cluster`."""
    return (out / "nodes.json").exists() and (out / ACCOUNTS_FILE).exists()


def check_tls(site: Site, opts: ClusterOptions) -> None:
    """RenderError unless the site's TLS setting, the nodes' hosts and `--tls-dir` agree."""
    if site.broker.use_tls and opts.tls_dir is None:
        raise RenderError(
            "site.toml sets use_tls = true under [broker], but no TLS directory was given: pass "
            "--tls-dir DIR (ca.crt, server.crt, server.key made by broker_config/make-ca.sh)."
        )
    if not site.broker.use_tls and any(
        n.host not in ("127.0.0.1", "localhost", "::1") for n in site.cluster.nodes
    ):
        raise RenderError(
            "[cluster] nodes on other hosts need TLS: set use_tls = true under [broker] and pass "
            "--tls-dir (plain MQTT and routes are for loopback tests only)."
        )


def render_cluster(site: Site, opts: ClusterOptions) -> list[Path]:
    """Write every node's config, the secrets and the client configs; return the paths written."""
    check_tls(site, opts)
    pw, written = write_site(site, opts, Scope(), [ROUTE_USER, SYSTEM_USER])
    written += write_nodes(site.cluster, pw[ROUTE_USER], opts, f"site {site.site.id}")
    return written


def write_nodes(c: ClusterInfo, route_pw: str, opts: ClusterOptions, of: str) -> list[Path]:
    """Every node's nats.conf (0600) and its JetStream directory."""
    written: list[Path] = []
    for node in c.nodes:
        (opts.out / "nodes" / node.name / "jetstream").mkdir(parents=True, exist_ok=True)
        path = opts.out / "nodes" / node.name / "nats.conf"
        _write(path, render_node_conf(c, node, route_pw, opts, of), 0o600)
        written.append(path)
    return written


def site_store_bytes(site: Site) -> int:
    """A node's JetStream file store (`[cluster] max_file_store_mb`) in bytes."""
    return site.cluster.max_file_store_mb * 1024 * 1024


def queue_limits(c: ClusterInfo, sites: int = 1) -> dict[str, int]:
    """What a site's console sets on its queued QoS1 messages (`MQTT_MSGS_STREAM`): at most
    `queued_per_topic` per topic, the oldest dropped first, and together at most the site's share
    (`sites` share the store) of `queued_store_percent` of a node's store. nats-server 2.9 has no
    per-login publish limit; this bounds what one login can make the store hold (docs/HA.md, 13)."""
    store = c.max_file_store_mb * 1024 * 1024
    return {
        "per_topic": c.queued_per_topic,
        "max_bytes": store * c.queued_store_percent // 100 // sites,
        "replicas": c.replicas,
    }


def write_site(
    site: Site, opts: ClusterOptions, scope: Scope, extra: list[str], sites: int = 1
) -> tuple[dict[str, str], list[Path]]:
    """A site's part of a cluster directory (`opts.out`): secrets.json (with the `extra` secrets),
    accounts.conf, nodes.json, console-log.json and the client configs, logins named for `scope`;
    `sites` share the nodes' store."""
    out = opts.out
    out.mkdir(parents=True, exist_ok=True)
    users = usernames(site)
    tokens = [token_key(tk.id) for tk in site.web.tokens] if site.web is not None else []
    # Every MQTT login's session gets a secret client id: NATS 2.9 does not bind client ids to
    # logins, so a known id (`console`, `unit-<id>`) could be taken over (docs/HA.md).
    pw = load_or_make_secrets(
        out / "secrets.json",
        [*users, *tokens, *extra, CONSOLE_LOG_USER, CONSOLE_ENROLL_USER],
        opts.rotate,
        client_id_users=users,
    )
    written: list[Path] = []

    def w(rel: str, text: str, mode: int = 0o644) -> None:
        _write(out / rel, text, mode)
        written.append(out / rel)

    w("secrets.json", json.dumps(pw, indent=2) + "\n", 0o600)
    if scope.in_region:
        region = {"account": scope.account, "login_suffix": scope.suffix, "store_bytes": scope.store_bytes}
        w(SCOPE_FILE, json.dumps(region, indent=2) + "\n")
    else:
        (out / SCOPE_FILE).unlink(missing_ok=True)  # a former region site's directory
    w(ACCOUNTS_FILE, render_accounts(site, pw, scope), 0o600)
    tls = site.broker.use_tls
    ca = (opts.tls_dir / "ca.crt").resolve() if tls and opts.tls_dir else None
    nodes = [{"name": n.name, "host": n.host, "port": n.mqtt_port, "tls": tls} for n in site.cluster.nodes]
    w("nodes.json", json.dumps(nodes, indent=2) + "\n")
    scheme = "tls" if tls else "nats"
    log_creds = {
        "site_id": site.site.id,
        "servers": [f"{scheme}://{n.host}:{n.nats_port}" for n in site.cluster.nodes],
        "username": scope.login(CONSOLE_LOG_USER),
        "password": pw[CONSOLE_LOG_USER],
        "ca_file": str(ca) if ca is not None else None,
        "mqtt_queue": queue_limits(site.cluster, sites),
    }
    w("console-log.json", json.dumps(log_creds, indent=2) + "\n", 0o600)
    # every client gets every node, the first preferred (wire/link.py moves on when one fails)
    ep = Endpoint(tuple(BrokerAddress(host=n.host, port=n.mqtt_port) for n in site.cluster.nodes), tls, ca)
    enroll = BrokerCredentials(
        site_id=site.site.id,
        username=scope.login(CONSOLE_ENROLL_USER),
        password=pw[CONSOLE_ENROLL_USER],
        host=ep.addresses[0].host,
        port=ep.addresses[0].port,
        addresses=ep.addresses,
        tls=tls,
        ca_file=str(ca) if ca is not None else None,
    )
    w(f"{CONSOLE_ENROLL_USER}.json", enroll.model_dump_json(indent=2) + "\n", 0o600)
    write_client_configs(site, pw, remote=ep, local=ep, w=w, login=scope.login)
    return pw, written
