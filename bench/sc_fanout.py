"""Scenario `fanout`: does a hanging fan-out channel delay the MQTT notifications?

A generated site: one team with 20 leads, each with console + pager + e-mail + Apprise (JSON
webhook to a local HTTP server) from level 1, so every alarm fans out to 20 people x 3 channels.
The SMTP server accepts connections and never answers. The service runs as a process
(`python -m bench.fanout_serve`), alternately without fan-out and with it (off, on, off, on; a
fresh database each time). Each alarm: the unit event is published, all 20 `person/<p>/notify`
are awaited, then the incident is resolved. Figure: MQTT notification p99 with the hanging
fan-out / without, from the same run.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from bench.ctx import Ctx
from bench.report import Row
from bench.stats import Stats
from bench.system import PY, Capture
from stilalarm.broker_config.local import LocalBroker, high_publish_limit
from stilalarm.inventory import load_site
from stilalarm.wire.identity import client_id as cid_for
from stilalarm.wire.link import Link
from stilalarm.wire.messages import AckCmd, EventKind, Registration, ResolveCmd, UnitEvent, encode, utcnow
from stilalarm.wire.topics import PersonChannel, Topics, UnitChannel
from tests.peers import HangingSmtp, Hook

SC = "fanout"
CONSOLE = str(Path(PY).parent / "alarm-console")
PEOPLE = [f"p{i:02d}" for i in range(1, 21)]


def site_toml(smtp_port: int, hook_port: int, fanout: bool = True) -> str:
    """The bench site; without `fanout` the same people have only console + pager (no e-mail/Apprise)."""
    leads = ", ".join(f'"{p}"' for p in PEOPLE)
    out = [
        '[site]\nid = "fan"\nname = "Fan-out bench"\ntimezone = "Europe/Brussels"\nlanguage = "nl"\n',
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\n'
        'from_addr = "stilalarm@example.org"\ntimeout_s = 10\n',
        f'[[teams]]\nid = "team"\nname = "Team"\nleads = [{leads}]\n',
        '[[rooms]]\nid = "balie"\nlabel = "Balie"\nkind = "balie"\nteam = "team"\n',
        '[[rooms]]\nid = "bureau"\nlabel = "Bureau"\nkind = "bureau"\nteam = "team"\n',
        '[[units]]\nid = "desk"\nroom = "balie"\nbuttons = [{ id = "knop", contact = "no", pin = 5 }]\n',
    ]
    for p in PEOPLE:
        out.append(
            f'[[units]]\nid = "pager-{p}"\nroom = "bureau"\nrole = "lead"\nperson = "{p}"\n'
            'buttons = [{ id = "ik-kom", contact = "no", pin = 5 }]\n'
        )
    for p in PEOPLE:
        if fanout:
            out.append(
                f'[[people]]\nid = "{p}"\nname = "Person {p}"\nroles = ["lead"]\nemail = "{p}@example.org"\n'
                f'apprise = [{{ url = "json://127.0.0.1:{hook_port}/{p}" }}]\n'
                'channels = [{ kind = "console" }, { kind = "pager" }, { kind = "email" }, '
                '{ kind = "apprise" }]\n'
            )
        else:
            out.append(
                f'[[people]]\nid = "{p}"\nname = "Person {p}"\nroles = ["lead"]\n'
                'channels = [{ kind = "console" }, { kind = "pager" }]\n'
            )
    out.append('[[people]]\nid = "fac"\nname = "Facilities"\nroles = ["facilities"]\n')
    return "\n".join(out)


def _alarms(broker: LocalBroker, cap: Capture, n: int) -> tuple[list[float], list[float]]:
    """(publish -> first of 20 notifications, publish -> all 20) in ms, for n sequential alarms."""
    t = Topics(broker.site.site.id)
    unit = Link(broker.creds("unit-desk"), client_id=cid_for("unit-desk", "bench-fan"), clean_session=True)
    lead_user = f"person-{PEOPLE[0]}"
    lead = Link(broker.creds(lead_user), client_id=cid_for(lead_user, "bench-fan"), clean_session=True)
    for lk in (unit, lead):
        lk.start()
        if not lk.wait_connected(10):
            raise TimeoutError("bench client could not connect")
    first: list[float] = []
    every: list[float] = []
    boot = uuid.uuid4()
    try:
        for i in range(n):
            now = utcnow()
            ev = UnitEvent(
                event_id=uuid.uuid4(),
                unit_id="desk",
                kind=EventKind.ALARM,
                button_id="knop",
                seq=i + 1,
                boot_id=boot,
                occurred_at=now,
                sent_at=now,
            )
            eid = str(ev.event_id)
            m = cap.mark()
            t0 = time.time()
            unit.publish(t.unit_event("desk"), encode(ev), qos=1)
            rc = cap.wait(
                lambda x, e=eid: x.topic.endswith("/receipt") and e in x.payload.decode(), 10, "receipt", m
            )
            inc = rc.json()["incident_id"]

            def note(x: Any, inc: str = inc) -> bool:
                return bool(x.topic.endswith("/notify") and inc.encode() in x.payload)

            if cap.wait_count(note, len(PEOPLE), 10, m) < len(PEOPLE):
                raise TimeoutError("not every lead was notified within 10 s")
            ats = [x.at for x in cap.since(m) if note(x)]
            first.append((min(ats) - t0) * 1000)
            every.append((max(ats) - t0) * 1000)
            ack = AckCmd(cmd_id=uuid.uuid4(), person_id=PEOPLE[0], issued_at=utcnow(), incident_id=inc)
            cmd = ResolveCmd(
                cmd_id=uuid.uuid4(),
                person_id=PEOPLE[0],
                issued_at=utcnow(),
                incident_id=inc,
                registration=Registration(false_alarm=True, note="bench"),
            )
            for c in (ack, cmd):  # an incident is resolved only after an ack
                m2 = cap.mark()
                lead.publish(t.person_cmd(PEOPLE[0]), encode(c), qos=1)
                cid = str(c.cmd_id)
                cap.wait(
                    lambda x, c=cid: x.topic.endswith("/reply") and c in x.payload.decode(), 10, "reply", m2
                )
    finally:
        unit.stop()
        lead.stop()
    return first, every


def run_fanout(ctx: Ctx) -> None:
    res = ctx.res
    d = ctx.dir("fanout")
    smtp, hook = HangingSmtp(), Hook()
    site_file = d / "site.toml"
    site_file.write_text(site_toml(smtp.port, hook.port))
    plain_file = d / "site-plain.toml"
    plain_file.write_text(site_toml(smtp.port, hook.port, fanout=False))
    site = load_site(site_file)
    broker = LocalBroker(high_publish_limit(site), d / "broker")  # alarms back to back from one login
    broker.start()
    t = Topics(site.site.id)
    cap = Capture().start(
        broker,
        [
            t.all_people(PersonChannel.NOTIFY),
            t.all_people(PersonChannel.REPLY),
            t.all_units(UnitChannel.RECEIPT),
            t.all_units(UnitChannel.CMD),
            t.console_status(),
        ],
    )
    n = ctx.n(200, 30)
    runs: dict[str, list[tuple[list[float], list[float]]]] = {"off": [], "on": []}
    proc: subprocess.Popen[bytes] | None = None
    pages = 0
    try:
        for k, mode in enumerate(["off", "on", "off", "on"]):
            sf = site_file if mode == "on" else plain_file
            argv = [
                CONSOLE,
                "serve",
                "--site",
                str(sf),
                "--db",
                str(d / f"c{k}.db"),
                "--broker-dir",
                str(broker.dir),
                "--init",  # a fresh database per run
            ]
            m = cap.mark()
            with (d / f"serve-{k}.log").open("ab") as log:
                proc = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
            cap.wait(lambda x: x.topic == t.console_status() and b'"online"' in x.payload, 30, "console", m)
            time.sleep(1)
            runs[mode].append(_alarms(broker, cap, n // 2))
            if mode == "on":
                pages += sum(1 for x in cap.since(m) if x.topic.endswith("/cmd"))
            proc.kill()
            proc.wait(10)
            proc = None
        off_first = Stats.of([x for r in runs["off"] for x in r[0]])
        on_first = Stats.of([x for r in runs["on"] for x in r[0]])
        off_all = Stats.of([x for r in runs["off"] for x in r[1]])
        on_all = Stats.of([x for r in runs["on"] for x in r[1]])
        ratio = on_first.p99 / off_first.p99
        res.add(
            Row(
                SC,
                "MQTT notification p99, hanging SMTP + webhook + pager fan-out",
                on_first.p99,
                "ms",
                off_first.p99,
                "same, no fan-out",
                "within 10 %",
                ratio <= 1.10,
            )
        )
        res.add(
            Row(
                SC,
                "all 20 leads' MQTT notifications p99, with fan-out",
                on_all.p99,
                "ms",
                off_all.p99,
                "same, no fan-out",
                "within 10 %",
                on_all.p99 / off_all.p99 <= 1.10,
            )
        )
        res.note(
            SC,
            f"{n} alarms per mode in blocks off/on/off/on, each to 20 leads x (console, pager, e-mail, "
            f"Apprise). First notification: without fan-out {off_first.fmt()}; with {on_first.fmt()}. "
            f"All 20: without {off_all.fmt()}; with {on_all.fmt()}. During the 'on' runs the hanging SMTP "
            f"server held {len(smtp.conns)} connection(s), the webhook got {len(hook.posts)} posts "
            f"and {pages} "
            "unit commands (PageCmd, FeedbackCmd) went out: the fan-out really worked (stuck on e-mail).",
        )
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        cap.stop()
        broker.stop()
        smtp.close()
        hook.close()
