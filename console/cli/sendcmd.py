"""One person command from the CLI, built from the arguments, sent with the person's own login,
and its reply printed: the shared tail of `visit`, `register` and `risk`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from stilalarm.wire.messages import CommandReply


def run_person_command(
    args: argparse.Namespace,
    build: Callable[[argparse.Namespace, str], Any],
    ident: Callable[[Any, CommandReply | None], str],
    retry_hint: Callable[[Any], str],
) -> int:
    """Exit 0 accepted, 1 refused (or no config), 2 invalid arguments, 3 no reply in time.

    `build(args, timezone)` makes the command; `ident(cmd, reply)` names it in the output;
    `retry_hint(cmd)` says how to send the same command again."""
    from pydantic import ValidationError

    from stilalarm.console.remote import load_person, send
    from stilalarm.wire.credentials import ConfigError

    try:
        cfg = load_person(args.broker_dir, args.person)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        cmd = build(args, cfg.timezone)
    except ValidationError as exc:
        msgs = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        print(f"invalid command: {msgs}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"invalid command: {exc}", file=sys.stderr)
        return 2
    reply = send(cfg, cmd, args.timeout)
    if reply is None:
        print(
            f"no reply from the console within {args.timeout:g} s: is `alarm-console serve` running "
            f"and the broker reachable? Send the same command again {retry_hint(cmd)}",
            file=sys.stderr,
        )
        return 3
    if reply.ok:
        print(f"ok {ident(cmd, reply)} {reply.reason}".strip())
        return 0
    print(f"rejected ({reply.code}) {ident(cmd, None)}: {reply.reason}", file=sys.stderr)
    return 1
