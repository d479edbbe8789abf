"""`make demo PROFILE=cluster`: the cluster profile (issue 18, docs/HA.md) on this machine.

Starts a 3-node NATS cluster on loopback (`LocalCluster`), two consoles (`alarm-console serve
--ha a` and `--ha b`: a takes the lease, b follows the replicated log as a standby), every unit of
the site as simulated desk units and a read-only observer, all as real processes. Then it plays a
scripted scenario, one line per step with the time since the first press:

1. a press -> the unit's outbox -> the receipt -> level 1 paged by console a;
2. console a is SIGKILLed mid-escalation; b takes over (printed: how long after the kill) and pages
   level 2 at its recorded time; the deputy acknowledges through b; a restarts as a standby;
3. a second press, in another room, is handled by b;
4. one broker node is SIGKILLed; a third press still gets through (receipt, level 1).

Exits 0 when every step happened, 1 when one did not (the logs are in the work dir), 2 when it
cannot start (no nats-server, a bad site or unit), 130 / 143 on Ctrl+C / SIGTERM. Every process
is stopped at the end, whatever happened. Scripted only, also on a terminal: the lead's TUI is the
mosquitto demo's.

The units, the consoles' MQTT link and the observer use the rendered configs, which point at the
first node (address lists in the client configs come separately), so the node killed in step 4 is
the last one: a node of the JetStream quorum (it may lead the MQTT streams or carry a console's
log connection), not the one the clients are connected to.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import time
from pathlib import Path

from stilalarm.broker_config.local import BrokerError, find_nats_server
from stilalarm.devkit.demo import Script
from stilalarm.devkit.localsystem import ClusterSystem
from stilalarm.inventory import InventoryError, Site, load_site
from stilalarm.inventory.kinds import UnitRole, Via
from stilalarm.wire.messages import ConsoleStatus, ContractError, IncidentState, LinkState, parse

TTL_S = 3.0
"""The consoles' lease (`--ha-ttl`): the standby takes over this long after the active's last renewal."""


class Stopped(Exception):
    """SIGTERM arrived: stop every process and exit 143."""


def _on_sigterm(_signum: int, _frame: object) -> None:
    raise Stopped


class ClusterScript(Script):
    """The failover scenario on a `ClusterSystem` whose console a is active and b standby."""

    def __init__(self, sysm: ClusterSystem, site: Site, units: tuple[str, str, str]) -> None:
        """units: pressed first (its team's escalation is followed), after the takeover, after a
        broker node's kill; each in its own room."""
        super().__init__(sysm, site, units[0])
        self.c = sysm
        self.unit2, self.unit3 = units[1], units[2]

    def paged_by(self, index: int) -> str:
        """Which console was active when the observer saw message `index`: the instance in the last
        online console status before it (the active console beats it every second)."""
        topic = self.s.topics.console_status()
        for _m, t, payload, _r in reversed(self.s.observed.items[:index]):
            if t != topic:
                continue
            try:
                st = parse(ConsoleStatus, payload)
            except ContractError:
                continue
            if st.state is LinkState.ONLINE:
                return st.instance or "?"
        return "?"

    def incident_state(self, incident: str) -> IncidentState:
        topic = self.s.topics.incident(incident)
        _i, _t, payload = self.s.observed.wait(lambda t, _p: t == topic, 15, f"incident {incident}'s state")
        return parse(IncidentState, payload)

    def page(self, person: str, level: int, incident: str, timeout: float, role: str = "") -> str:
        """Wait for a page; say who got it from which console; returns that console's name."""
        i, n = self.notification(person, level, timeout, incident)
        by = self.paged_by(i)
        self.say(f"niveau {level} → {self.site.person(person).name}{role}, door console {by}: {n.title}")
        return by

    def run(self) -> None:
        lead = self.team.leads[0]
        deputy = self.team.deputies[0]
        lv2 = self.team.escalation.levels[1].after_s
        print(
            f"\nScenario: een medewerker in {self.where(self.unit.id)} drukt op de verborgen alarmknop; "
            "daarna valt de actieve alarmcentrale uit.\n",
            flush=True,
        )
        self.t0 = time.monotonic()
        incident = self.press(self.unit.id)
        if self.page(lead, 1, incident, 15) != "a":
            raise RuntimeError("level 1 was not paged by console a")

        a = self.c.console("a")
        pid = a.proc.pid if a.proc is not None else 0
        a.kill()
        t_kill = time.monotonic()
        self.say(f"console a valt uit (kill -9, pid {pid}) midden in de escalatie; console b is standby")
        self.c.wait_log("b", "ACTIVE console b ", 60, "console b to take over")
        self.say(
            f"console b neemt over: actief {time.monotonic() - t_kill:.1f} s na de kill "
            f"(lease {TTL_S:g} s); de escalatie loopt verder vanuit het gerepliceerde log"
        )
        i, n2 = self.notification(deputy, 2, lv2 + 60, incident)
        by = self.paged_by(i)
        pressed_at = self.incident_state(incident).pressed_at
        after = (n2.at - pressed_at).total_seconds()
        self.say(
            f"niveau 2 → {self.site.person(deputy).name} (vervanger), door console {by}: {after:.1f} s na "
            f"de druk (gepland na {lv2:.0f} s)"
        )
        if by != "b":
            raise RuntimeError(f"level 2 was paged by console {by}, not b")
        if after < lv2 - 0.01:
            raise RuntimeError(f"level 2 was paged {after:.2f} s after the press, before its {lv2:.0f} s")
        assert self.s.sim is not None
        mark = self.s.sim.mark()
        reply = self.cli("ack", incident, "--as", deputy)
        self.say(f"{self.site.person(deputy).name} drukt 'Ik kom' (console b antwoordt): {reply}")
        self.wait_led_acknowledged(self.unit.id, mark)

        self.c.start_console("a", TTL_S)
        self.c.wait_log("a", "standby a ", 60, "console a to restart as a standby")
        self.say("console a herstart als standby: volgt het log van console b")

        print(f"\nScenario: een tweede alarm in {self.where(self.unit2)}, nu bij console b.\n", flush=True)
        incident2 = self.press(self.unit2)
        lead2 = self.site.team(self.site.room(self.site.unit(self.unit2).room).team).leads[0]
        if self.page(lead2, 1, incident2, 15) != "b":
            raise RuntimeError("the second alarm was not paged by console b")

        last = len(self.c.broker.nodes) - 1
        node = self.c.broker.nodes[last].name
        print(
            f"\nScenario: broker-knooppunt {node} valt uit; een derde alarm in {self.where(self.unit3)}.\n",
            flush=True,
        )
        b_mark = len(self.c.console("b").log())
        self.c.broker.kill_node(last)
        t_node = time.monotonic()
        self.say(f"knooppunt {node} valt uit (kill -9); de andere twee vormen nog een meerderheid")
        incident3 = self.press(self.unit3, timeout=90)
        self.say(f"ontvangstbevestiging {time.monotonic() - t_node:.1f} s na het uitvallen van {node}")
        lead3 = self.site.team(self.site.room(self.site.unit(self.unit3).room).team).leads[0]
        by = self.page(lead3, 1, incident3, 30)
        if "stepping down" in self.c.console("b").log()[b_mark:]:
            # the lease's stream may have had its leader on the killed node: its election can take
            # longer than the lease (docs/HA.md, "Failover measured")
            self.say(
                f"console b kon de lease niet verlengen terwijl het cluster een nieuwe leider koos "
                f"(lease {TTL_S:g} s) en werd standby; console {by} nam over"
            )


def _check_units(site: Site, units: list[str]) -> str | None:
    """Why the scenario's units do not fit (None when they do): Pi units, each in its own room."""
    pis = {u.id: u for u in site.units if u.via is Via.GPIO and u.role is UnitRole.DESK}
    for u in units:
        if u not in pis:
            return f"unit {u!r} is not a desk unit of the site (choose from {', '.join(sorted(pis))})"
    rooms = [pis[u].room for u in units]
    if len(set(rooms)) != len(rooms):
        return (
            f"units {', '.join(units)} must be in different rooms (an open incident takes a room's presses)"
        )
    if len(site.team(site.room(pis[units[0]].room).team).escalation.levels) < 2:
        return f"unit {units[0]!r}: its team's escalation has no level 2"
    return None


def run_cluster(args: argparse.Namespace) -> int:
    """`python -m stilalarm.devkit.demo --profile cluster`; the exit status."""
    workdir: Path = args.dir or Path("run/demo-cluster")
    try:
        site = load_site(args.site)
        find_nats_server()
    except (InventoryError, BrokerError) as exc:
        print(exc, file=sys.stderr)
        return 2
    units = [args.unit, args.unit2, args.unit3]
    problem = _check_units(site, units)
    if problem is not None:
        print(f"{problem}; set --unit, --unit2, --unit3", file=sys.stderr)
        return 2
    if workdir.exists():
        shutil.rmtree(workdir)
    sysm = ClusterSystem(site, args.site, workdir)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        sysm.start_broker()
        nodes = ", ".join(f"{n.name} 127.0.0.1:{n.mqtt_port}" for n in sysm.broker.nodes)
        print(
            f"broker: NATS cluster (JetStream, MQTT) of {len(sysm.broker.nodes)} nodes: {nodes}", flush=True
        )
        sysm.start_observer()
        sysm.start_console("a", TTL_S)
        sysm.wait_log("a", "ACTIVE console a ", 60, "console a to become active")
        sysm.wait_console_online(30)
        print(f"console a: ACTIVE (log {sysm.console('a').log_path})", flush=True)
        sysm.start_console("b", TTL_S)
        sysm.wait_log("b", "standby b ", 60, "console b to follow as a standby")
        print(
            f"console b: standby, follows the replicated log (log {sysm.console('b').log_path})", flush=True
        )
        sim = sysm.start_sim()
        ready = sim.wait(lambda e: e.get("event") == "ready", 60, "simulated units connected")
        print(f"simulated desk units: {ready.get('units')} connected", flush=True)
        ClusterScript(sysm, site, (args.unit, args.unit2, args.unit3)).run()
        print(
            "\ndemo OK: press → console a → kill -9 of a → b takes over, level 2 on time, 'Ik kom' → "
            "second alarm by b → a broker node killed → third alarm through",
            flush=True,
        )
        return 0
    except (TimeoutError, RuntimeError) as exc:
        print(f"demo FAILED: {exc}\nlogs in {workdir}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("demo interrupted", file=sys.stderr)
        return 130
    except Stopped:
        print("demo stopped (SIGTERM)", file=sys.stderr)
        return 143
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # stop everything, even on a second SIGTERM
        try:
            sysm.stop()
        finally:
            signal.signal(signal.SIGTERM, previous)
