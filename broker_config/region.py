"""A region: many sites on one 3-node cluster, one NATS account per site (issue 18, docs/HA.md
"Region").

`alarm-broker region --site a/site.toml --site b/site.toml ... --out DIR [--remove ID]` writes:

    DIR/nodes/<name>/nats.conf  0600  one node's config (every site's [cluster] is the same)
    DIR/accounts.conf           0600  the system account and an include of every site's account
    DIR/secrets.json            0600  the routes' and the system account's passwords
    DIR/sites/<site id>/              that site's cluster directory, as `render --profile cluster`
                                      writes it (client configs, console-log.json, secrets.json),
                                      except that its accounts.conf holds its account block only
                                      and region.json names its account, login suffix and quota

Each site gets an account of its own, `SITE_<site id>`: its MQTT sessions, retained messages and
QoS1 queues (the `$MQTT_*` streams), its consoles' log and lease live there, and no login of
another site can reach a subject of it (accounts share nothing unless they export it; these export
nothing). Each account has a JetStream quota, an equal share of every node's store (the nodes'
`[cluster] max_file_store_mb` together / the number of sites: nats-server counts every replica
against an account's quota): a site whose logins fill its share (a stolen console password
writing retained messages, sessions piling up) stops itself only (its log and lease refuse
writes); without the quota it stopped every site. NATS user names are global to a server, so
every login carries `@<site id>` (`unit-balie-1@gemeente-a`); topics, client ids, streams and the
lease stay as for one site. Enrolment rewrites the site's own accounts.conf (`new_unit_password`
on `DIR/sites/<site id>`), never another site's.

Every site already in DIR must be given again: a forgotten --site would take that site's logins,
and so its alarms, off the nodes at their next reload. `--remove ID` takes a site out on purpose,
in two renders with a reload of every node after each (broker_config/decommission.py): the first
leaves its accounts only a login that deletes their streams; the second deletes them with it,
takes the accounts out and moves the directory to DIR/removed/; the others' shares grow.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from stilalarm.broker_config.cluster import (
    ACCOUNTS_FILE,
    ACCOUNTS_HEADER,
    ENROLL_STORE_BYTES,
    ROUTE_USER,
    SCOPE_FILE,
    SYSTEM_USER,
    ClusterOptions,
    Scope,
    _q,
    check_tls,
    scope_of,
    site_store_bytes,
    system_account,
    write_nodes,
    write_site,
)
from stilalarm.broker_config.decommission import (
    DECOMMISSION_ENROLL_USER,
    DECOMMISSION_FILE,
    DECOMMISSION_USER,
    Decommission,
    decommission_block,
    delete_streams,
)
from stilalarm.broker_config.render import RenderError, _write, load_or_make_secrets
from stilalarm.inventory.model import Site
from stilalarm.wire.identity import region_login

SITES_DIR = "sites"
REMOVED_DIR = "removed"
"""Where `--remove` moves a site's directory (its configs hold logins the nodes no longer know)."""


def region_scope(site_id: str, store_bytes: int = 0) -> Scope:
    """A region site's account, login suffix and JetStream quota (0: none)."""
    return Scope(f"SITE_{site_id}", region_login("", site_id), store_bytes)


def site_dir(out: Path, site_id: str) -> Path:
    """Where a region's site's cluster directory is (client configs, console-log.json)."""
    return out / SITES_DIR / site_id


def check_region(sites: list[Site]) -> None:
    """RenderError unless the sites can share one cluster: at least one, ids unique, the same
    [cluster] (but for each console's own `page_after_s`) and the same TLS setting."""
    if not sites:
        raise RenderError("a region needs at least one site: pass --site site.toml for each")
    ids = [s.site.id for s in sites]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise RenderError(
            f"site id {', '.join(twice)} given more than once: every site of a region needs its own id"
        )
    first = sites[0]
    for s in sites[1:]:
        if s.cluster.shared() != first.cluster.shared():
            raise RenderError(
                f"site {s.site.id}: its [cluster] differs from site {first.site.id}'s; the sites of a "
                "region share one cluster: give every site.toml the same [cluster] section (only "
                "page_after_s, each site's console's own, may differ)"
            )
        if s.broker.use_tls != first.broker.use_tls:
            raise RenderError(
                f"site {s.site.id}: use_tls under [broker] differs from site {first.site.id}'s; one "
                "cluster has one MQTT listener per node: set the same value in every site.toml"
            )


def render_accounts_file(site_ids: list[str], system_pw: str) -> str:
    """The region's accounts.conf: the system account and every site's account file."""
    return "\n".join(
        [
            f"# Generated by `alarm-broker region` for the sites {', '.join(site_ids)}.",
            "# Do not edit: render again. Each site's account (and logins) is in sites/<site id>/,",
            "# rewritten there by enrolment. nats-server resolves an include relative to this file.",
            *ACCOUNTS_HEADER,
            "accounts {",
            *system_account(system_pw),
            *(f"  include {_q(f'{SITES_DIR}/{sid}/{ACCOUNTS_FILE}')}" for sid in site_ids),
            "}",
            "",
        ]
    )


def leaving(out: Path) -> set[str]:
    """The sites of the region in `out` whose removal has begun (their data not yet deleted)."""
    return {sid for sid in rendered_sites(out) if (site_dir(out, sid) / DECOMMISSION_FILE).exists()}


def begin_removal(out: Path, sid: str) -> list[Path]:
    """Step 1 of `--remove`: the site's accounts keep only a decommission login each (every other
    login of the site is refused from the nodes' next reload); the logins in decommission.json."""
    d = site_dir(out, sid)
    scope = scope_of(d)
    log = json.loads((d / "console-log.json").read_text(encoding="utf-8"))
    users = (scope.login(DECOMMISSION_USER), scope.login(DECOMMISSION_ENROLL_USER))
    logins = tuple((u, secrets.token_urlsafe(24)) for u in users)
    file_quota = scope.store_bytes or ENROLL_STORE_BYTES  # what the site stored still counts
    text = "\n".join(
        [
            f"# Site {sid} is being removed (`alarm-broker region --remove {sid}`): no login of it",
            "# works any more; the decommission logins delete its streams, then the next render with",
            "# --remove takes these accounts out. Do not edit (docs/HA.md, Region).",
            f"  {scope.account} {{",
            f"    jetstream: {{ max_file: {file_quota}, max_mem: {ENROLL_STORE_BYTES} }}",
            "    users: [",
            *decommission_block(*logins[0]),
            "    ]",
            "  }",
            f"  {scope.account}_ENROLL {{",
            f"    jetstream: {{ max_file: {ENROLL_STORE_BYTES}, max_mem: {ENROLL_STORE_BYTES} }}",
            "    users: [",
            *decommission_block(*logins[1]),
            "    ]",
            "  }",
            "",
        ]
    )
    _write(d / ACCOUNTS_FILE, text, 0o600)
    Decommission(servers=tuple(log["servers"]), logins=logins, ca_file=log.get("ca_file")).save(
        d / DECOMMISSION_FILE
    )
    return [d / ACCOUNTS_FILE, d / DECOMMISSION_FILE]


def rendered_sites(out: Path) -> set[str]:
    """The ids of the sites rendered into the region directory `out` (a site directory with its
    region.json)."""
    base = out / SITES_DIR
    if not base.is_dir():
        return set()
    return {d.name for d in base.iterdir() if (d / SCOPE_FILE).exists()}


def check_membership(sites: list[Site], out: Path, remove: frozenset[str]) -> None:
    """RenderError unless every site already in the region is given again or named in `remove`:
    a forgotten --site would take a site's logins off the nodes at their next reload, and with
    them every alarm of that site."""
    given = {s.site.id for s in sites}
    before = rendered_sites(out)
    both = sorted(given & remove)
    if both:
        raise RenderError(
            f"site {', '.join(both)} is both given (--site) and to be removed (--remove): choose one"
        )
    unknown = sorted(remove - before)
    if unknown:
        raise RenderError(
            f"--remove {', '.join(unknown)}: not a site of the region in {out} "
            f"(its sites: {', '.join(sorted(before)) or 'none'})"
        )
    going = sorted(leaving(out) - given - remove)
    if going:
        raise RenderError(
            f"site {', '.join(going)} is being removed: reload every node (SIGHUP), then run this again "
            "with --remove for it (that deletes its data on the cluster and takes its account out), "
            "or give its --site to keep it"
        )
    missing = sorted(before - given - remove)
    if missing:
        raise RenderError(
            f"site {', '.join(missing)} is in the region ({out / SITES_DIR}) but no --site was given for "
            "it: pass its site.toml again, or --remove it to take it out of the region (its logins, "
            "and with them its alarms, stop at the nodes' next reload)"
        )


@dataclass(frozen=True)
class RegionWritten:
    """What a region render did."""

    paths: list[Path]
    """Every file and directory written (or moved to `removed/`)."""
    deleted: list[str]
    """The streams deleted on the cluster for the sites that left, as `<login>: <stream>`."""


def render_region(
    sites: list[Site], opts: ClusterOptions, remove: frozenset[str] = frozenset()
) -> RegionWritten:
    """Write every node's config, the region's accounts and every site's directory. A site in
    `remove` leaves the region in two renders (broker_config/decommission.py): the first leaves it
    a decommission login only; the next, after the nodes reloaded, deletes its streams with it,
    takes its accounts out and moves its directory to `removed/` (docs/HA.md, Region)."""
    check_region(sites)
    for s in sites:
        check_tls(s, opts)
    out = opts.out
    check_membership(sites, out, remove)
    out.mkdir(parents=True, exist_ok=True)
    pw = load_or_make_secrets(out / "secrets.json", [ROUTE_USER, SYSTEM_USER], opts.rotate)
    _write(out / "secrets.json", json.dumps(pw, indent=2) + "\n", 0o600)
    written = [out / "secrets.json"]
    half_removed = leaving(out)
    gone_now = sorted(remove & half_removed)  # step 2: their data goes, then their accounts
    starting = sorted(remove - half_removed)  # step 1: their data still counts against the store
    deleted: list[str] = []
    for sid in gone_now:
        deleted += delete_streams(Decommission.load(site_dir(out, sid) / DECOMMISSION_FILE))
    shares = len(sites) + len(starting)
    for s in sites:
        _, files = write_site(
            s,
            replace(opts, out=site_dir(out, s.site.id)),
            region_scope(s.site.id, len(s.cluster.nodes) * site_store_bytes(s) // shares),
            [],
            shares,
        )
        (site_dir(out, s.site.id) / DECOMMISSION_FILE).unlink(missing_ok=True)  # given again: kept
        written += files
    for sid in starting:
        written += begin_removal(out, sid)
    included = [*(s.site.id for s in sites), *starting]
    _write(out / ACCOUNTS_FILE, render_accounts_file(included, pw[SYSTEM_USER]), 0o600)
    written.append(out / ACCOUNTS_FILE)
    of = f"a region of {len(sites)} sites"
    written += write_nodes(sites[0].cluster, pw[ROUTE_USER], opts, of)
    for sid in gone_now:  # last: the new accounts.conf no longer includes these
        gone = out / REMOVED_DIR / f"{sid}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
        gone.parent.mkdir(parents=True, exist_ok=True)
        site_dir(out, sid).rename(gone)
        written.append(gone)
    return RegionWritten(written, deleted)
