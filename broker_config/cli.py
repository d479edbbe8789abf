"""`alarm-broker`: render the Mosquitto config from site.toml, check a site, run a local broker."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

from stilalarm.broker_config.local import BrokerError, find_mosquitto, port_open
from stilalarm.broker_config.plugin import PluginError
from stilalarm.broker_config.render import RenderError, RenderOptions, RunAsError, render
from stilalarm.inventory import InventoryError, Site, load_site


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="alarm-broker",
        description="Generate the Mosquitto broker configuration (listeners, TLS, per-client "
        "credentials, ACLs, durable persistence) from the site inventory, and run a local "
        "broker for development and the demo.",
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("render", help="write mosquitto.conf, passwd, acl and client configs")
    r.add_argument("--site", required=True, type=Path, help="site inventory (site.toml)")
    r.add_argument("--out", required=True, type=Path, help="output directory")
    r.add_argument(
        "--profile",
        choices=("mosquitto", "cluster"),
        default="mosquitto",
        help="mosquitto (default: one broker) or cluster (a NATS JetStream cluster with its MQTT "
        "listener: every node's config from [cluster] in site.toml; docs/HA.md)",
    )
    r.add_argument("--port", type=int, help="loopback listener port (default: from site.toml)")
    r.add_argument(
        "--tls-dir",
        type=Path,
        help="dir with ca.crt, server.crt, server.key (made by broker_config/make-ca.sh); "
        "required when site.toml sets use_tls = true",
    )
    r.add_argument("--run-as", help="user mosquitto switches to when started as root")
    r.add_argument(
        "--rotate",
        action="store_true",
        help="generate new passwords for everybody (cluster profile: new secret client ids too)",
    )
    r.add_argument(
        "--reload-broker",
        type=int,
        metavar="PID",
        help="afterwards send SIGHUP to this mosquitto (it reads the new passwd and acl; under systemd: "
        "systemctl reload mosquitto)",
    )
    r.add_argument(
        "--reload-console",
        type=Path,
        metavar="DB",
        help="afterwards have the `alarm-console serve` of this database reload site.toml "
        "(`alarm-console reload`): it pushes the units their new configs",
    )
    c = sub.add_parser("check", help="validate a site inventory and print a summary")
    c.add_argument("--site", required=True, type=Path, help="site inventory (site.toml)")
    u = sub.add_parser("run", help="render into --dir and run mosquitto in the foreground")
    u.add_argument("--site", required=True, type=Path, help="site inventory (site.toml)")
    u.add_argument("--dir", type=Path, default=Path("run/broker"), help="work dir (default run/broker)")
    u.add_argument("--port", type=int, help="loopback listener port (default: from site.toml)")
    u.add_argument("--tls-dir", type=Path, help="as for render; required when site.toml sets use_tls = true")
    g = sub.add_parser(
        "region",
        help="write one cluster's node configs for many sites, an account per site (docs/HA.md Region)",
    )
    g.add_argument(
        "--site", required=True, type=Path, action="append", help="a site's site.toml; once per site"
    )
    g.add_argument("--out", required=True, type=Path, help="output directory (sites/<id>/ per site)")
    g.add_argument("--tls-dir", type=Path, help="as for render; required when the sites set use_tls = true")
    g.add_argument("--rotate", action="store_true", help="new passwords and secret client ids for everybody")
    g.add_argument(
        "--remove",
        action="append",
        default=[],
        metavar="SITE_ID",
        help="take this site out of the region, in two runs with a reload of every node after each: "
        "the first stops its logins, the second deletes its data on the cluster and moves its "
        "directory to OUT/removed/; every other site already in OUT must be given with --site",
    )
    return p


def region_cmd(args: argparse.Namespace) -> int:
    """`region`: every node's nats.conf, the region's accounts, each site's directory."""
    from stilalarm.broker_config.cluster import ClusterOptions, TopicError
    from stilalarm.broker_config.region import render_region, site_dir

    try:
        sites = [load_site(p) for p in args.site]
        done = render_region(
            sites,
            ClusterOptions(out=args.out, tls_dir=args.tls_dir, rotate=args.rotate),
            frozenset(args.remove),
        )
    except InventoryError as exc:
        print(exc, file=sys.stderr)
        return 2
    except (RenderError, TopicError) as exc:
        print(f"alarm-broker region: {exc}", file=sys.stderr)
        return 2
    names = ", ".join(n.name for n in sites[0].cluster.nodes)
    print(f"wrote {len(done.paths)} files to {args.out}: nats.conf for nodes {names}")
    for s in sites:
        sid = s.site.id
        print(f"  site {sid}: account SITE_{sid}, logins <name>@{sid}, configs in {site_dir(args.out, sid)}")
    for sid in args.remove:
        if site_dir(args.out, sid).exists():
            print(
                f"  site {sid}: removal begun: none of its logins works once every node reloads "
                f"(SIGHUP); then run this again with --remove {sid} to delete its data on the cluster"
            )
        else:
            print(
                f"  site {sid}: its data on the cluster deleted; reload every node (SIGHUP) to take "
                "its accounts out"
            )
    for stream in done.deleted:
        print(f"    deleted stream {stream}")
    print("(secrets, node configs and client configs are mode 0600; never commit them)")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.cmd == "region":
        return region_cmd(args)
    try:
        site = load_site(args.site)
    except InventoryError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.cmd == "check":
        print(
            f"{args.site}: site {site.site.id} OK: {len(site.teams)} teams, {len(site.rooms)} rooms, "
            f"{len(site.units)} units, {len(site.people)} people"
        )
        return 0
    if args.cmd == "render" and args.profile == "cluster":
        return render_cluster_cmd(site, args)
    if args.cmd == "render":
        opts = RenderOptions(
            out=args.out, port=args.port, tls_dir=args.tls_dir, run_as=args.run_as, rotate=args.rotate
        )
        try:
            written = render(site, opts)
        except (RenderError, PluginError) as exc:
            print(f"alarm-broker render: {exc}", file=sys.stderr)
            return 2
        except RunAsError as exc:
            raise SystemExit(str(exc)) from None  # the message alone, exit status 1
        print(f"wrote {len(written)} files to {args.out} (secrets are mode 0600; never commit them)")
        return apply(args)
    # run
    try:
        exe = find_mosquitto()
    except BrokerError as exc:
        print(exc, file=sys.stderr)
        return 2
    port = args.port or site.broker.port
    if port_open(port):
        print(f"port {port} is already in use (another broker?); choose one with --port", file=sys.stderr)
        return 2
    try:
        render(site, RenderOptions(out=args.dir, port=port, tls_dir=args.tls_dir))
    except (RenderError, PluginError) as exc:
        print(f"alarm-broker run: {exc}", file=sys.stderr)
        return 2
    print(f"mosquitto for site {site.site.id} on 127.0.0.1:{port}, config in {args.dir}", flush=True)
    os.execv(exe, ["mosquitto", "-c", str(args.dir / "mosquitto.conf")])


def render_cluster_cmd(site: Site, args: argparse.Namespace) -> int:
    """`render --profile cluster`: every node's nats.conf and the client configs."""
    from stilalarm.broker_config.cluster import ClusterOptions, TopicError, render_cluster

    for flag in ("port", "run_as", "reload_broker", "reload_console"):
        if getattr(args, flag) is not None:
            print(
                f"alarm-broker render: --{flag.replace('_', '-')} is for the mosquitto profile",
                file=sys.stderr,
            )
            return 2
    try:
        written = render_cluster(site, ClusterOptions(out=args.out, tls_dir=args.tls_dir, rotate=args.rotate))
    except (RenderError, TopicError) as exc:
        print(f"alarm-broker render: {exc}", file=sys.stderr)
        return 2
    names = ", ".join(n.name for n in site.cluster.nodes)
    print(
        f"wrote {len(written)} files to {args.out}: nats.conf for nodes {names}, console-log.json for "
        "the consoles' log (secrets, node configs and client configs are mode 0600; never commit them)"
    )
    return 0


def apply(args: argparse.Namespace) -> int:
    """After a render: the broker reloads its logins and ACL first (a new unit can then connect and
    read its config), then the console reloads the inventory and pushes the configs."""
    if args.reload_broker is not None:
        try:
            os.kill(args.reload_broker, signal.SIGHUP)
        except OSError as exc:
            print(
                f"alarm-broker render: cannot reload mosquitto (pid {args.reload_broker}): {exc}",
                file=sys.stderr,
            )
            return 1
        print(f"mosquitto (pid {args.reload_broker}) reloads its password file and ACL")
    if args.reload_console is not None:
        cmd = [sys.executable, "-m", "stilalarm.console.cli", "reload", "--site", str(args.site)]
        done = subprocess.run([*cmd, "--db", str(args.reload_console)], check=False)
        return done.returncode
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
