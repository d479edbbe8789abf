"""The allowances for faults, each named with why it is that size, and the fault windows.

Every allowance for a fault is derived from the applied fault windows (`faults.jsonl`).
"""

from __future__ import annotations

from collections.abc import Iterable

from soak.check.run import Run
from soak.site import HEARTBEAT_S
from stilalarm.console.config import SupervisionPolicy
from stilalarm.console.core.engine import TEST_REPEAT_GUARD
from stilalarm.firmware.ports import Settings

LED_SLACK_S = 1.0  # the LED line and the console's ack time are two clocks of this machine
# Invariant 2: a notification is on time when it arrives by its due time + BASE_SLACK_S, where the
# due time is moved past every fault window it falls into (see `extended_deadline`). 2 s: the worst
# lateness outside fault windows was 0.05-0.12 s on the shared 2-core machine.
BASE_SLACK_S = 2.0
# stilalarm.wire.link: a client reconnects with backoff up to reconnect_max_s 5 s x 1.5 jitter.
RECONNECT_S = 7.5
# paho's connect timeout (5 s): a connect attempt begun while a unit's link was still down runs
# out before the next attempt, which then waits for the reconnect backoff.
CONNECT_TIMEOUT_S = 5.0
# After a network cut or flap of the solo unit ends, its press (waiting in the outbox, sent at
# once on link up) flows when the unit has a connection again: a connect attempt that started
# while the link was down times out, then the reconnect backoff.
NET_RECOVERY_S = CONNECT_TIMEOUT_S + RECONNECT_S
# After a fault ends, how long until things flow again: a broker restart costs every client a
# reconnect and a unit's retransmission of an event the broker lost (firmware: 2 s after the
# first send, doubling); the console's restart is in the window already (the fault ends when the
# new console is ready); a unit's restart too (the fault ends when its link is up again; it sends
# every unreceipted event on link up).
RECOVERY_S = {
    "broker_kill": RECONNECT_S + 4.0,
    "broker_stop": 7.5,
    "console_kill": 1.0,
    "console_stop": 1.0,
    "sim_kill": 4.0,
    "unit_kill": 4.0,
    "unit_crash_store": 4.0,
    "unit_crash_receipt": 4.0,
    "net_cut": NET_RECOVERY_S,
    "net_flap": NET_RECOVERY_S,
}
# Invariant 1: a kill (SIGKILL 30-110 ms after the press) can land between the unit recording the
# console's receipt in its outbox and printing the receipt line; the receipt on the wire and the
# kill this close together, with no resend afterwards, show the unit had recorded it.
KILL_LINE_S = 0.5
SYSTEM_FAULTS = ("broker_kill", "broker_stop", "console_kill", "console_stop")
# A unit's process dies (SIGKILL): the broker sends its will at once.
KILLS = ("sim_kill", "unit_kill", "unit_crash_store", "unit_crash_receipt")
# A unit's network goes silent (no FIN): only the console's heartbeat bound can notice.
CUTS = ("net_cut", "net_flap")
# Faults of one unit's shard: only its own presses wait (level 1) and only it may be offline.
UNIT_FAULTS = KILLS + CUTS
# The console's database filesystem is full (`disk_full`). console/shell/degraded.py (degraded mode): the
# console keeps stepping and paging from memory ("niet opgeslagen"), so levels and repeats are NOT
# late and need no allowance; receipts are withheld (units retransmit) until the store works again.
# Only a console restart while the disk is full loses what was held (a restart starts from the
# log): its incidents, pages and acknowledgements are gone, the held presses come back as the
# units' retransmissions, at most retransmit_max_s after the restart.
RETRANSMIT_MAX_S = Settings().retransmit_max_s
# Invariant 5: the console reports a silent unit offline after missed_heartbeats (3, the supervision
# default) x the soak units' heartbeat interval, counted from its last heartbeat. A stall or a deaf
# spell of the console (SIGSTOP, no broker) moves that baseline on by the gap (supervision
# re-baselining), so the bound is extended by the console's outages.
SILENCE_BOUND_S = SupervisionPolicy().missed_heartbeats * HEARTBEAT_S
# Invariant 7: the engine's guard between two tests of one button (by either clock).
TEST_GUARD_S = TEST_REPEAT_GUARD.total_seconds()
# A repeat of the last level comes repeat_every_s after the previous one, by the console's clock
# (Notification.at); earlier than this much before is a bug (a duplicated timer).
EARLY_REPEAT_S = 0.05


def fault_windows(run: Run, kinds: Iterable[str], target: str | None = None) -> list[tuple[float, float]]:
    """(start, end + recovery) of the applied faults of these kinds (and this target)."""
    kinds = set(kinds)
    return sorted(
        (f["start"], f["end"] + RECOVERY_S.get(f["kind"], 0.0))
        for f in run.faults
        if f["kind"] in kinds and (target is None or f["target"] == target)
    )


def lost_windows(run: Run) -> list[tuple[float, float]]:
    """(disk full start, console ready again) for every console restart while the disk was full:
    what the console held in memory then (incidents, pages, acknowledgements) is gone."""
    out = []
    for df in run.faults:
        if df["kind"] != "disk_full":
            continue
        for ck in run.faults:
            if ck["kind"] == "console_kill" and df["start"] <= ck["start"] <= df["end"]:
                out.append((df["start"], ck["end"]))
    return sorted(out)


def extended_deadline(due: float, windows: list[tuple[float, float]], slack: float = BASE_SLACK_S) -> float:
    """`due + slack`, moved to `end + slack` of every fault window that starts before the
    deadline and ends after the due time (repeated: windows can chain)."""
    deadline = due + slack
    changed = True
    while changed:
        changed = False
        for start, end in windows:
            if start <= deadline and end > due and end + slack > deadline:
                deadline = end + slack
                changed = True
    return deadline


def inside(t: float, windows: Iterable[tuple[float, float]]) -> bool:
    return any(s0 <= t <= e0 for s0, e0 in windows)
