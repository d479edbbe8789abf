"""`alarm-console enroll list|approve|reject|revoke`: facilities enrol a desk unit (docs/ENROLLMENT.md).

Run on the broker host, with the rendered broker directory: approving gives the chosen inventory
unit a fresh password (`stilalarm.broker_config.render.new_unit_password`), reloads the broker, and publishes
the unit's config sealed to the Pi's public key; revoking gives the unit a password only the
broker directory knows and reloads the broker, which disconnects the unit at once.

The record of requests (`enrollments.json`, 0600, in the broker directory) is kept by the pure
state machine in stilalarm.console.core.enrollment; this module is its shell (files, MQTT, clock,
the broker's reload). The same file keeps the reject records: requests not taken because their
key is not the one their topic names, they speak an older enrolment protocol, or they are not
requests; each is logged when first seen and `enroll list` warns about recent ones.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import shlex
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from stilalarm.console.core import enrollment as core
from stilalarm.console.core.enrollment import Outcome, Rejected, RejectReason, ReqState, Request

if TYPE_CHECKING:
    from stilalarm.inventory.model import Site
    from stilalarm.wire.credentials import BrokerCredentials
    from stilalarm.wire.enrollbus import EnrollBus
    from stilalarm.wire.topics import Topics

log = logging.getLogger("alarm-console.enroll")

LEDGER_FILE = "enrollments.json"
SYNC_LEVEL = "console-sync"
"""The topic level of the console's own sync mark (`enroll/console-sync/request`): no fingerprint."""
DEFAULT_RELOAD = "systemctl reload mosquitto"

REFUSALS = {
    Outcome.UNKNOWN: "no enrolment request has this code: check the code on the unit (it changes each "
    "time `alarm-unit enroll` starts), and `alarm-console enroll list`",
    Outcome.AMBIGUOUS: "more than one waiting request has this code: nothing approved. Someone may be "
    "trying to enrol a rogue device; reject them all (`enroll list`), then restart `alarm-unit enroll` "
    "on the real unit for a new code",
    Outcome.EXPIRED: "this code has expired: run `alarm-unit enroll` on the unit again for a new code",
    Outcome.USED: "this code was already used (a code works once): run `alarm-unit enroll` on the unit "
    "again for a new code",
    Outcome.FLOODED: f"more than {core.MAX_PENDING} requests are waiting: someone is flooding enrolment, "
    "nothing approved. Reject the unknown ones or wait until they expire",
    Outcome.UNIT_TAKEN: "this unit is already enrolled on another device: `alarm-console enroll revoke "
    "UNIT` first (that disconnects the old device at once)",
}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], broker_dir: Path) -> None:
    e = sub.add_parser(
        "enroll",
        help="enrol desk units: list waiting Pis, approve a code for an inventory unit, reject, revoke",
    )
    esub = e.add_subparsers(dest="enroll_command", required=True, metavar="ACTION")

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--site", required=True, type=Path, help="site inventory (site.toml)")
        sp.add_argument(
            "--broker-dir",
            type=Path,
            default=broker_dir,
            help=f"output of `alarm-broker render` (console.json, passwd, units/) (default {broker_dir})",
        )
        sp.add_argument(
            "--code-minutes",
            type=float,
            default=core.DEFAULT_CODE_MINUTES,
            help=f"how long a code can be approved after the console first saw it (default "
            f"{core.DEFAULT_CODE_MINUTES:g})",
        )
        sp.add_argument(
            "--broker-pid",
            type=int,
            action="append",
            help="reload the broker by sending SIGHUP to this process (development, tests; give it "
            "once per node of a cluster); default: run --reload-command",
        )
        sp.add_argument(
            "--reload-command",
            default=DEFAULT_RELOAD,
            help=f"how to make the broker reload its password file (default: {DEFAULT_RELOAD})",
        )
        sp.add_argument(
            "--timeout", type=float, default=10.0, help="seconds to wait for the broker (default 10)"
        )

    ls = esub.add_parser("list", help="waiting enrolment requests (code, host name, age)")
    common(ls)
    ap = esub.add_parser("approve", help="approve the code a Pi shows, as inventory unit --unit")
    ap.add_argument("code", help="the 6 digits the unit shows (123-456)")
    ap.add_argument("--unit", required=True, help="the inventory unit this Pi becomes")
    common(ap)
    rj = esub.add_parser("reject", help="refuse the code a Pi shows")
    rj.add_argument("code", help="the 6 digits the unit shows")
    common(rj)
    rv = esub.add_parser(
        "revoke",
        help="a stolen or replaced unit: its credentials stop working and it is disconnected at once",
    )
    rv.add_argument("unit", help="the inventory unit")
    common(rv)


# ------------------------------------------------------------------------- the ledger file


def _load_ledger(path: Path) -> tuple[core.Ledger, core.Rejects]:
    """The requests and the reject records (a file from before the reject records is a list)."""
    if not path.exists():
        return {}, {}
    data = json.loads(path.read_text(encoding="utf-8"))
    rows, reject_rows = (data, []) if isinstance(data, list) else (data["requests"], data["rejects"])
    out: core.Ledger = {}
    for d in rows:
        out[d["fingerprint"]] = Request(
            fingerprint=d["fingerprint"],
            code=d["code"],
            client_id=d["client_id"],
            public_key=d["public_key"],
            hostname=d["hostname"],
            first_seen=datetime.fromisoformat(d["first_seen"]),
            state=ReqState(d["state"]),
            unit=d["unit"],
            decided_at=datetime.fromisoformat(d["decided_at"]) if d["decided_at"] else None,
        )
    rejects: core.Rejects = {}
    for d in reject_rows:
        r = Rejected(
            reason=RejectReason(d["reason"]),
            topic_id=d["topic_id"],
            key_fingerprint=d["key_fingerprint"],
            hostname=d["hostname"],
            detail=d["detail"],
            first_seen=datetime.fromisoformat(d["first_seen"]),
            last_seen=datetime.fromisoformat(d["last_seen"]),
        )
        rejects[r.key] = r
    return out, rejects


def _save_ledger(path: Path, ledger: core.Ledger, rejects: core.Rejects) -> None:
    rows = [
        {
            "fingerprint": r.fingerprint,
            "code": r.code,
            "client_id": r.client_id,
            "public_key": r.public_key,
            "hostname": r.hostname,
            "first_seen": r.first_seen.isoformat(),
            "state": r.state.value,
            "unit": r.unit,
            "decided_at": r.decided_at.isoformat() if r.decided_at else None,
        }
        for r in sorted(ledger.values(), key=lambda r: r.first_seen)
    ]
    reject_rows = [
        {
            "reason": r.reason.value,
            "topic_id": r.topic_id,
            "key_fingerprint": r.key_fingerprint,
            "hostname": r.hostname,
            "detail": r.detail,
            "first_seen": r.first_seen.isoformat(),
            "last_seen": r.last_seen.isoformat(),
        }
        for r in sorted(rejects.values(), key=lambda r: r.first_seen)
    ]
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"requests": rows, "rejects": reject_rows}, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ------------------------------------------------------------------------- the command


def enroll_command(args: argparse.Namespace) -> int:
    """Exit 0 done, 1 refused (the message says why), 2 bad arguments or files, 3 broker unreachable."""
    from stilalarm.inventory import InventoryError, load_site
    from stilalarm.wire.credentials import BrokerCredentials, ConfigError, load_json_model

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    try:
        site = load_site(args.site)
        # the cluster profile's enrolment login, in the enrolment account (docs/HA.md, item 11)
        own = args.broker_dir / "console-enroll.json"
        creds = load_json_model(BrokerCredentials, own if own.exists() else args.broker_dir / "console.json")
    except (InventoryError, ConfigError) as exc:
        print(exc, file=sys.stderr)
        return 2
    if not 0 < args.code_minutes <= 60:
        print("--code-minutes must be more than 0 and at most 60", file=sys.stderr)
        return 2
    lifetime = timedelta(minutes=args.code_minutes)
    ledger_path = args.broker_dir / LEDGER_FILE
    try:  # one enroll command at a time: two approvals must not both use one code
        lock = os.open(args.broker_dir / (LEDGER_FILE + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        print(f"{args.broker_dir}: cannot write the enrolment record: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _locked(args, site, creds, ledger_path, lifetime)
    finally:
        os.close(lock)


def _locked(
    args: argparse.Namespace, site: Site, creds: BrokerCredentials, ledger_path: Path, lifetime: timedelta
) -> int:
    from stilalarm.wire.enrollbus import EnrollBus, EnrollBusError, unique_suffix
    from stilalarm.wire.identity import client_id
    from stilalarm.wire.topics import Topics

    try:
        ledger, rejects = _load_ledger(ledger_path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"{ledger_path}: cannot read the enrolment record: {exc}", file=sys.stderr)
        return 2
    now = datetime.now(UTC)
    if args.enroll_command == "revoke":
        return _revoke(args, site, ledger, rejects, ledger_path, now)
    topics = Topics(site.site.id)
    bus = EnrollBus(creds, client_id(creds.username, "enroll-" + unique_suffix()))
    seen: dict[str, bytes] = {}
    bus.subscribe(topics.all_enroll_requests(), lambda t, p, _r: seen.__setitem__(t, p))
    try:
        bus.connect(args.timeout)
    except EnrollBusError as exc:
        print(exc, file=sys.stderr)
        return 3
    try:
        # the mark's level is no fingerprint (and has no '.', which NATS refuses in a topic)
        if not bus.sync(topics.enroll_request(SYNC_LEVEL), args.timeout):
            print(f"the broker did not answer within {args.timeout:g} s", file=sys.stderr)
            return 3
        ledger, rejects = _take_requests(ledger, rejects, topics, seen, now)
        ledger = core.expire(ledger, now, lifetime)
        _save_ledger(ledger_path, ledger, rejects)  # new requests and reject records, whatever follows
        _clear_spent(ledger, topics, seen, bus, args.timeout)
        match args.enroll_command:
            case "list":
                _save_ledger(ledger_path, ledger, rejects)
                return _list(ledger, rejects, now, lifetime)
            case "approve":
                return _approve(args, site, ledger, rejects, ledger_path, bus, topics, now, lifetime)
            case "reject":
                return _reject(args, ledger, rejects, ledger_path, bus, topics, now, lifetime)
        return 2
    finally:
        bus.close()


def _take_requests(
    ledger: core.Ledger, rejects: core.Rejects, topics: Topics, seen: dict[str, bytes], now: datetime
) -> tuple[core.Ledger, core.Rejects]:
    """Add the retained requests the broker holds. One that cannot be taken (its key is not the one
    its topic names, an older enrolment protocol, not a request) gets a reject record and a log
    line when first seen, and never a reply: a reply on another Pi's topic would stop that Pi."""
    from stilalarm.wire.enroll import (
        EnrollKeyError,
        decode_public_key,
        fingerprint,
        is_fingerprint,
        key_matches_topic,
        short_code,
    )
    from stilalarm.wire.messages import ContractError, EnrollRequest, parse

    def refuse(reason: RejectReason, topic_id: str, key_fp: str, hostname: str, detail: str) -> None:
        nonlocal rejects
        rejects, new = core.record_reject(
            rejects,
            reason=reason,
            topic_id=topic_id,
            key_fingerprint=key_fp,
            hostname=hostname,
            detail=detail,
            now=now,
        )
        if new:
            log.warning("enrolment request on %s refused (%s): %s", topic, reason.value, detail)

    for topic, payload in seen.items():
        topic_id = topics.parse_enroll_request(topic)
        if topic_id is None or not payload or topic_id == SYNC_LEVEL:
            continue
        if not is_fingerprint(topic_id):
            refuse(
                RejectReason.OLD_PROTOCOL,
                topic_id,
                "",
                "",
                f"the topic is not named by a key fingerprint ({topic_id!r}): an older stilalarm "
                "(enrolment protocol 1) or another client; update stilalarm on that Pi and run "
                "`alarm-unit enroll` again",
            )
            continue
        try:
            req = parse(EnrollRequest, payload)
            key = decode_public_key(req.public_key)
        except (ContractError, EnrollKeyError) as exc:
            old = _speaks_protocol_1(payload)
            refuse(
                RejectReason.OLD_PROTOCOL if old else RejectReason.MALFORMED,
                topic_id,
                "",
                "",
                (
                    "enrolment protocol 1 (an older stilalarm): update stilalarm on that Pi and run "
                    "`alarm-unit enroll` again"
                    if old
                    else f"not an enrolment request: {exc}"
                ),
            )
            continue
        if not key_matches_topic(key, topic_id):
            refuse(
                RejectReason.KEY_MISMATCH,
                topic_id,
                fingerprint(key),
                req.hostname,
                f"its key has fingerprint {fingerprint(key)}, not the topic's: someone may be posting "
                f"under another Pi's fingerprint (host name {req.hostname!r}); nothing is sealed to "
                "that key",
            )
            continue
        ledger = core.observe(
            ledger,
            fingerprint=topic_id,
            code=short_code(key),
            client_id=topic_id,
            public_key=req.public_key,
            hostname=req.hostname,
            now=now,
        )
    return ledger, rejects


def _speaks_protocol_1(payload: bytes) -> bool:
    """Whether an unreadable request is a protocol 1 one (`"v": 1`): an older stilalarm."""
    try:
        data = json.loads(payload)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("v") == 1


def _clear_spent(
    ledger: core.Ledger, topics: Topics, seen: dict[str, bytes], bus: EnrollBus, timeout: float
) -> None:
    """Clear the retained requests the console will never take (decided or expired). The broker
    forgets a request by itself at its MQTT 5 expiry; on the cluster profile (MQTT 3.1.1, no
    expiry) a Pi that died waiting would otherwise leave its request there for good."""
    for topic, payload in seen.items():
        fp = topics.parse_enroll_request(topic)
        req = ledger.get(fp) if fp else None
        if payload and req is not None and req.state is not ReqState.PENDING:
            bus.publish(topic, b"", retain=True, expiry_s=None, timeout=timeout)


def _list(ledger: core.Ledger, rejects: core.Rejects, now: datetime, lifetime: timedelta) -> int:
    from stilalarm.wire.enroll import show_code

    for bad in core.recent_rejects(rejects, now, lifetime):
        print(f"refused request on enroll/{bad.topic_id} ({bad.reason.value}): {bad.detail}", file=sys.stderr)
    waiting = core.pending(ledger, now, lifetime)
    if not waiting:
        print("no enrolment requests waiting")
        return 0
    print(f"{'code':<9} {'host':<20} {'waiting':>8} {'left':>6}  key fingerprint")
    for r in waiting:
        age = int((now - r.first_seen).total_seconds())
        left = int((r.first_seen + lifetime - now).total_seconds())
        print(
            f"{show_code(r.code):<9} {r.hostname or '?':<20} {age // 60:>5}:{age % 60:02d} "
            f"{left // 60:>3}:{left % 60:02d}  {r.fingerprint}"
        )
    if len(waiting) > core.MAX_PENDING:
        print(
            f"more than {core.MAX_PENDING} requests waiting: someone is flooding enrolment", file=sys.stderr
        )
    return 0


def _reload_broker(args: argparse.Namespace) -> str | None:
    """Make the broker (every node of a cluster) reload its logins; None when done, else why not."""
    if args.broker_pid:
        for pid in args.broker_pid:
            try:
                os.kill(pid, signal.SIGHUP)
            except OSError as exc:
                return f"cannot signal the broker (pid {pid}): {exc.strerror}"
        return None
    try:
        res = subprocess.run(
            shlex.split(args.reload_command), capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`{args.reload_command}` failed: {exc}"
    if res.returncode != 0:
        return f"`{args.reload_command}` exited with {res.returncode}: {res.stderr.strip()}"
    return None


def _check_unit(site: Site, unit: str) -> str | None:
    from stilalarm.inventory.kinds import Via

    u = next((x for x in site.units if x.id == unit), None)
    if u is None:
        return f"no unit {unit!r} in the site inventory"
    if u.via is not Via.GPIO:
        return f"unit {unit!r} is a {u.via.value} unit (alarm-web speaks for it), not a desk unit"
    return None


def _approve(
    args: argparse.Namespace,
    site: Site,
    ledger: core.Ledger,
    rejects: core.Rejects,
    ledger_path: Path,
    bus: EnrollBus,
    topics: Topics,
    now: datetime,
    lifetime: timedelta,
) -> int:
    from stilalarm.broker_config.render import RenderError, new_unit_password
    from stilalarm.wire.credentials import ConfigError
    from stilalarm.wire.enroll import EnrollKeyError, decode_public_key, normalize_code, seal, show_code
    from stilalarm.wire.messages import EnrollReply, EnrollStatus, encode

    try:
        code = normalize_code(args.code)
    except EnrollKeyError as exc:
        print(exc, file=sys.stderr)
        return 2
    bad_unit = _check_unit(site, args.unit)
    if bad_unit:
        log.warning("approve %s refused: %s", show_code(code), bad_unit)
        print(bad_unit, file=sys.stderr)
        return 2
    ledger, outcome, req = core.approve(ledger, code, args.unit, now, lifetime)
    _save_ledger(ledger_path, ledger, rejects)  # the code is used from here on, whatever happens next
    if outcome is not Outcome.OK or req is None:
        log.warning("approve %s for unit %s refused: %s", show_code(code), args.unit, outcome.value)
        print(f"not approved: {REFUSALS[outcome]}", file=sys.stderr)
        return 1
    try:
        cfg = new_unit_password(site, args.broker_dir, args.unit)
    except (RenderError, ConfigError, OSError) as exc:
        print(f"cannot give unit {args.unit} new credentials: {exc}", file=sys.stderr)
        return 2
    why = _reload_broker(args)
    if why:
        print(f"{why}; the new credentials work once the broker has reloaded", file=sys.stderr)
    sealed = seal(decode_public_key(req.public_key), cfg.model_dump_json().encode("utf-8"))
    reply = encode(EnrollReply(status=EnrollStatus.APPROVED, sealed=sealed))
    expiry = int(lifetime.total_seconds())
    if not bus.publish(
        topics.enroll_reply(req.fingerprint), reply, retain=True, expiry_s=expiry, timeout=args.timeout
    ):
        print(
            "the broker did not take the answer; approve again is refused (code used): restart "
            "`alarm-unit enroll` on the unit for a new code",
            file=sys.stderr,
        )
        return 3
    bus.publish(topics.enroll_request(req.fingerprint), b"", retain=True, expiry_s=None, timeout=args.timeout)
    log.info(
        "enrolment %s (%s, %s) approved as unit %s", show_code(code), req.hostname, req.fingerprint, args.unit
    )
    print(
        f"approved {show_code(code)} ({req.hostname or req.fingerprint}) as unit {args.unit}: its "
        "credentials are on their way, sealed to that device's key"
    )
    return 0


def _reject(
    args: argparse.Namespace,
    ledger: core.Ledger,
    rejects: core.Rejects,
    ledger_path: Path,
    bus: EnrollBus,
    topics: Topics,
    now: datetime,
    lifetime: timedelta,
) -> int:
    from stilalarm.wire.enroll import EnrollKeyError, normalize_code, show_code
    from stilalarm.wire.messages import EnrollReply, EnrollStatus, encode

    try:
        code = normalize_code(args.code)
    except EnrollKeyError as exc:
        print(exc, file=sys.stderr)
        return 2
    ledger, outcome, req = core.reject(ledger, code, now, lifetime)
    _save_ledger(ledger_path, ledger, rejects)
    if outcome is not Outcome.OK or req is None:
        log.warning("reject %s refused: %s", show_code(code), outcome.value)
        print(f"not rejected: {REFUSALS[outcome]}", file=sys.stderr)
        return 1
    reply = encode(EnrollReply(status=EnrollStatus.REFUSED, reason="rejected by facilities"))
    expiry = int(lifetime.total_seconds())
    bus.publish(
        topics.enroll_reply(req.fingerprint), reply, retain=True, expiry_s=expiry, timeout=args.timeout
    )
    bus.publish(topics.enroll_request(req.fingerprint), b"", retain=True, expiry_s=None, timeout=args.timeout)
    log.info("enrolment %s (%s, %s) rejected", show_code(code), req.hostname, req.fingerprint)
    print(f"rejected {show_code(code)} ({req.hostname or req.fingerprint})")
    return 0


def _revoke(
    args: argparse.Namespace,
    site: Site,
    ledger: core.Ledger,
    rejects: core.Rejects,
    ledger_path: Path,
    now: datetime,
) -> int:
    from stilalarm.broker_config.render import RenderError, new_unit_password
    from stilalarm.wire.credentials import ConfigError

    bad_unit = _check_unit(site, args.unit)
    if bad_unit:
        log.warning("revoke refused: %s", bad_unit)
        print(bad_unit, file=sys.stderr)
        return 2
    try:
        new_unit_password(site, args.broker_dir, args.unit)  # a password nobody outside this directory has
    except (RenderError, ConfigError, OSError) as exc:
        print(f"cannot revoke unit {args.unit}: {exc}", file=sys.stderr)
        return 2
    ledger, _revoked = core.revoke(ledger, args.unit, now)
    _save_ledger(ledger_path, ledger, rejects)
    why = _reload_broker(args)
    if why:
        print(
            f"{why}: the unit's old credentials still work until the broker reloads its password file "
            "(`systemctl reload mosquitto`)",
            file=sys.stderr,
        )
        return 1
    log.warning(
        "unit %s revoked: old credentials refused, connection closed by the broker's reload", args.unit
    )
    print(
        f"revoked unit {args.unit}: its old credentials no longer work and the broker disconnected it; "
        "enrol its replacement with `alarm-unit enroll` and `alarm-console enroll approve`"
    )
    return 0
