"""`make demo`: the whole system on this machine.

Starts a local broker (the site's port, or a free one), the console service and every
unit of the site as simulated desk units, all as real processes. On a terminal it opens
the team lead's console (press `p` to press a simulated panic button); otherwise it plays
a scripted scenario (press -> lead notified -> deputy -> acknowledged -> resolved), prints
the incident's timeline, then presses a desk phone's alarm key through alarm-web (when the site
has a [web] section) and exits 0 (non-zero if any step did not happen).

`--profile cluster` (`make demo PROFILE=cluster`): the cluster profile instead, scripted only
(no TUI): a 3-node NATS cluster, two consoles (a active, b standby) and the simulated units; the
active console is killed mid-escalation and the standby takes over (`stilalarm.devkit.clusterdemo`).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from stilalarm.broker_config.local import BrokerError, find_mosquitto, free_port, port_open
from stilalarm.devkit.localsystem import LocalSystem, System, script
from stilalarm.devkit.webrun import WebProcess, tokens
from stilalarm.inventory import InventoryError, Site, load_site
from stilalarm.wire.messages import ContractError, IncidentState, IncidentTimeline, Notification, parse


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m stilalarm.devkit.demo", description=__doc__)
    p.add_argument("--site", type=Path, default=Path("examples/site.toml"), help="site inventory")
    p.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="work dir, wiped at start (default run/demo; run/demo-cluster with --profile cluster)",
    )
    p.add_argument("--as", dest="person", default="an", help="whose console to open (default an)")
    p.add_argument("--unit", default="spreekkamer-2", help="unit pressed in the scripted scenario")
    p.add_argument("--scripted", action="store_true", help="play the scenario even on a terminal")
    p.add_argument(
        "--profile",
        choices=("mosquitto", "cluster"),
        default="mosquitto",
        help="mosquitto (default): one broker, one console, the lead's TUI on a terminal; cluster: "
        "3 NATS nodes, consoles a and b, a scripted failover (never the TUI; needs nats-server; "
        "--dir defaults to run/demo-cluster, --unit2/--unit3 are the later presses)",
    )
    p.add_argument("--unit2", default="balie-1", help="cluster: unit pressed after the takeover")
    p.add_argument("--unit3", default="onthaal", help="cluster: unit pressed after a broker node's kill")
    return p


class Script:
    """The scripted scenario, printing one line per step with the time since the press."""

    def __init__(self, sysm: System[Any], site: Site, unit_id: str) -> None:
        self.s = sysm
        self.site = site
        self.unit = site.unit(unit_id)
        self.room = site.room(self.unit.room)
        self.team = site.team(self.room.team)
        self.tz = ZoneInfo(site.site.timezone)
        self.t0 = time.monotonic()

    def say(self, text: str) -> None:
        now = datetime.now(self.tz).strftime("%H:%M:%S")
        print(f"{now}  +{time.monotonic() - self.t0:6.2f} s  {text}", flush=True)

    def where(self, unit_id: str) -> str:
        room = self.site.room(self.site.unit(unit_id).room)
        return f"{room.label} — {self.site.team(room.team).name}"

    def notification(
        self, person: str, level: int, timeout: float, incident: str | None = None
    ) -> tuple[int, Notification]:
        """The first level `level` alarm notification to `person` (of `incident` when given), and
        its index in what the observer saw."""
        topic = self.s.topics.person_notify(person)

        def match(t: str, p: bytes) -> bool:
            if t != topic:
                return False
            try:
                n = parse(Notification, p)
            except ContractError:
                return False
            return n.level == level and (incident is None or str(n.incident_id) == incident)

        i, _t, payload = self.s.observed.wait(match, timeout, f"level {level} notification to {person}")
        return i, parse(Notification, payload)

    def press(self, unit_id: str, timeout: float = 15) -> str:
        """Press unit_id's button in the simulator; say when it is in the unit's outbox and when the
        console's receipt arrives; returns the incident id."""
        sim = self.s.sim
        assert sim is not None
        where = self.where(unit_id)
        start = sim.mark()
        sim.send(f"press {unit_id}")
        sim.wait(
            lambda e: e.get("unit") == unit_id and e.get("event") == "alarm_stored",
            10,
            "alarm stored in the unit's outbox",
            start,
        )
        self.say(f"knop ingedrukt in {where}: alarm veilig opgeslagen in de eenheid (outbox)")
        rec = sim.wait(
            lambda e: e.get("unit") == unit_id and e.get("event") == "receipt",
            timeout,
            "the console's receipt",
            start,
        )
        incident = str(rec.get("incident_id"))
        self.say(
            f"alarmcentrale bevestigt: opgeslagen als incident {incident}; LED aan de balie: 'ontvangen'"
        )
        return incident

    def wait_led_acknowledged(self, unit_id: str, start: int = 0) -> None:
        sim = self.s.sim
        assert sim is not None
        sim.wait(
            lambda e: (
                e.get("unit") == unit_id
                and e.get("event") == "led"
                and str(e.get("pattern", "")).upper() == "ACKNOWLEDGED"
            ),
            15,
            "LED acknowledged",
            start,
        )
        self.say("LED aan de balie: 'hulp is onderweg' (stil, enkel zichtbaar voor de medewerker)")

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [script("alarm-console"), *args, "--broker-dir", str(self.s.broker.dir)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"alarm-console {args[0]} failed: {out.stdout}{out.stderr}")
        return out.stdout.strip()

    def run(self) -> None:
        lead = self.team.leads[0]
        deputy = self.team.deputies[0]
        print(
            f"\nScenario: een medewerker in {self.where(self.unit.id)} drukt op de verborgen alarmknop.\n",
            flush=True,
        )
        self.t0 = time.monotonic()
        incident = self.press(self.unit.id)
        _i, n1 = self.notification(lead, 1, 15, incident)
        self.say(f"niveau 1 → {self.site.person(lead).name}: {n1.title}")
        lv2 = self.team.escalation.levels[1].after_s
        self.say(f"niemand reageert... na {lv2:.0f} s gaat het alarm naar de vervanger")
        _i, n2 = self.notification(deputy, 2, lv2 + 15, incident)
        self.say(f"niveau 2 → {self.site.person(deputy).name} (vervanger): {n2.title}")
        reply = self.cli("ack", incident, "--as", deputy)
        self.say(f"{self.site.person(deputy).name} drukt 'Ik kom': {reply}")
        self.wait_led_acknowledged(self.unit.id)
        reply = self.cli(
            "resolve",
            incident,
            "--as",
            deputy,
            "--type",
            "verbaal",
            "--severity",
            "agressie",
            "--aftercare",
            "opvang",
            "--note",
            "Klant werd verbaal agressief; kalmeerde na tussenkomst.",
        )
        self.say(f"incident afgehandeld en geregistreerd: {reply}")
        state_topic = self.s.topics.incident(incident)
        self.s.observed.wait(
            lambda t, p: t == state_topic and b'"resolved"' in p, 15, "incident state resolved"
        )
        self.print_timeline(incident)

    def phone(self, web: WebProcess) -> None:
        """A desk phone's alarm key: one HTTP GET, as the phone sends it, through alarm-web."""
        import httpx

        assert self.site.web is not None
        tk = next(t for t in self.site.web.tokens if not t.revoked and t.person is None)
        unit = self.site.unit(tk.unit)
        room = self.site.room(unit.room)
        lead = self.site.team(room.team).leads[0]
        print(
            f"\nScenario: de alarmtoets van de bureautelefoon in {room.label} (via alarm-web).\n", flush=True
        )
        self.t0 = time.monotonic()
        r = httpx.get(
            f"{web.url}/phone/press", params={"token": tokens(self.s.broker.dir)[tk.id]}, timeout=10
        )
        if r.status_code != 200:
            raise RuntimeError(f"alarm-web answered {r.status_code}: {r.text}")
        self.say(f"telefoon drukt: alarm-web antwoordt 200 (opgeslagen in zijn outbox), token {tk.id}")
        _i, n = self.notification(lead, 1, 15)
        self.say(f"niveau 1 → {self.site.person(lead).name}: {n.title} — {n.body}")
        reply = self.cli("ack", str(n.incident_id), "--as", lead)
        self.say(f"{self.site.person(lead).name} drukt 'Ik kom': {reply}")
        reply = self.cli(
            *("resolve", str(n.incident_id), "--as", lead, "--type", "verbaal", "--severity", "boosheid"),
            *("--note", "Alarm via de bureautelefoon; klant kalmeerde."),
        )
        self.say(f"afgehandeld en geregistreerd: {reply}")

    def print_timeline(self, incident: str) -> None:
        topic = self.s.topics.timeline(incident)
        try:
            _i, _t, payload = self.s.observed.wait(
                lambda t, p: t == topic and b'"resolved"' in p, 10, "the resolved timeline"
            )
        except TimeoutError:
            print("(geen tijdlijn ontvangen)")
            return
        tl = parse(IncidentTimeline, payload)
        state_payload = [p for _m, t, p, _r in self.s.observed.items if t == self.s.topics.incident(incident)]
        state = parse(IncidentState, state_payload[-1])
        status = {"open": "open", "acknowledged": "bevestigd", "resolved": "afgehandeld"}[state.status.value]
        print(f"\nTijdlijn van incident {incident} ({status}, hoogste niveau {state.level}):")
        for e in tl.entries:
            at = e.at.astimezone(self.tz).strftime("%H:%M:%S.%f")[:-3]
            print(f"  {at}  {e.text}")
        print(flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    if args.profile == "cluster":
        from stilalarm.devkit.clusterdemo import run_cluster

        return run_cluster(args)
    args.dir = args.dir or Path("run/demo")
    try:
        site = load_site(args.site)
        find_mosquitto()
    except (InventoryError, BrokerError) as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.dir.exists():
        shutil.rmtree(args.dir)
    port = site.broker.port if not port_open(site.broker.port) else free_port()
    sysm = LocalSystem(site, args.site, args.dir, port=port)
    web: WebProcess | None = None
    interactive = sys.stdin.isatty() and sys.stdout.isatty() and not args.scripted
    try:
        sysm.start_broker()
        print(f"broker: mosquitto on 127.0.0.1:{port} (config {sysm.broker.dir})", flush=True)
        sysm.start_observer()
        sysm.start_console()
        sysm.wait_console_online(20)
        print(f"console service: online (log {args.dir / 'console.log'})", flush=True)
        sim = sysm.start_sim()
        ready = sim.wait(lambda e: e.get("event") == "ready", 30, "simulated units connected")
        print(f"simulated desk units: {ready.get('units')} connected", flush=True)
        if site.web is not None:
            web = WebProcess(sysm.broker.dir, args.dir / "web", args.dir / "web.log").start()
            web.wait_ready(30)
            _show_web(web, site, sysm)
        if interactive:
            return _interactive(sysm, site, args.person)
        script_ = Script(sysm, site, args.unit)
        script_.run()
        if web is not None:
            script_.phone(web)
        print("demo OK: press → lead → deputy → acknowledged → resolved; desk phone key → lead", flush=True)
        return 0
    except (TimeoutError, RuntimeError) as exc:
        print(f"demo FAILED: {exc}\nlogs in {args.dir}", file=sys.stderr)
        return 1
    finally:
        if web is not None:
            web.terminate()
        sysm.stop()


def _show_web(web: WebProcess, site: Site, sysm: LocalSystem) -> None:
    """Where to press a desk phone's key and open the panic page (demo tokens, plain HTTP)."""
    assert site.web is not None
    secret = tokens(sysm.broker.dir)
    print(f"alarm-web: {web.url} (plain HTTP for the demo; log {web.log_path})", flush=True)
    for tk in site.web.tokens:
        if tk.revoked:
            continue
        if tk.person is None:
            print(
                f"  bureautelefoon {tk.unit}: curl '{web.url}/phone/press?token={secret[tk.id]}'", flush=True
            )
        else:
            print(f"  paniekknop van {tk.person}: {web.url}/app/#token={secret[tk.id]}", flush=True)


def _interactive(sysm: LocalSystem, site: Site, person: str) -> int:
    from stilalarm.console.tui.app import ConsoleApp
    from stilalarm.inventory.derived import PersonConfig
    from stilalarm.wire.credentials import ConfigError, load_json_model

    try:
        cfg = load_json_model(PersonConfig, sysm.broker.dir / "people" / f"{person}.json")
    except ConfigError as exc:
        raise SystemExit(str(exc)) from None  # the message alone, exit status 1
    sim = sysm.sim
    assert sim is not None
    app = ConsoleApp(site, person, cfg.broker, on_demo_press=lambda unit: sim.send(f"press {unit}"))
    app.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
