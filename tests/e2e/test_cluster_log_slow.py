"""Pages do not wait for the replicated log (docs/HA.md, open item 12): a real 3-node cluster, a
real `alarm-console serve --ha`, a unit played by `ScriptedUnit` (it retransmits until its
receipt, like the firmware's outbox). The console's connection to the log (its NATS client port)
runs through a TCP relay that the test freezes: the log can confirm nothing while MQTT works.
The press must be paged from memory, marked "niet opgeslagen" / "not stored", within the
replica's bound instead of after the log's return; no receipt goes out and facilities are told
once; when the relay flows again everything held is stored once and receipted.

The lease's ttl here is 30 s so that the frozen connection does not also end the lease (a cut
longer than the ttl hands over to a standby: tests/e2e/test_console_failover.py)."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from stilalarm.console.ha.jetstream import ClusterLogCredentials
from stilalarm.devkit.servicerun import FAST_SITE, ScriptedUnit, ServiceProcess
from stilalarm.inventory.load import parse_site
from stilalarm.wire.messages import Notification, NotifyReason
from stilalarm.wire.topics import Topics
from tests.e2e.test_disk_full import alarm_pages, query, retransmitted, stores_again
from tests.harness import Capture, started_cluster, wait_until

SITE = parse_site(FAST_SITE)
T = Topics(SITE.site.id)
FACILITIES = ("fien", "gert")  # fien reads English
PAGE_AFTER_S = 1.5  # [cluster] page_after_s of the first test (the default is 2)


class Relay:
    """A TCP relay to `target` on a free loopback port that can be frozen: while frozen it
    accepts but moves no byte either way (a hung path, not a refused one)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.flowing = threading.Event()
        self.flowing.set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
                upstream = socket.create_connection(self.target)
            except OSError:
                return
            self._socks += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                self.flowing.wait()
                data = src.recv(65536)
                if not data:
                    break
                self.flowing.wait()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                s.close()

    def close(self) -> None:
        self.flowing.set()
        self._listener.close()
        for s in self._socks:
            s.close()


@pytest.fixture
def relays() -> Iterator[list[Relay]]:
    made: list[Relay] = []
    yield made
    for r in made:
        r.close()


def test_a_press_is_paged_from_memory_while_the_log_cannot_confirm(
    tmp_path: Path, relays: list[Relay]
) -> None:
    site_file = tmp_path / "site.toml"
    site_file.write_text(FAST_SITE + f"\n[cluster]\npage_after_s = {PAGE_AFTER_S}\n")
    with started_cluster(SITE, tmp_path / "cluster") as cluster:
        log_file = cluster.dir / "console-log.json"
        creds = ClusterLogCredentials.model_validate_json(log_file.read_text())
        relays += [Relay((n.host, n.nats_port)) for n in cluster.nodes]
        via = creds.model_copy(update={"servers": [f"nats://127.0.0.1:{r.port}" for r in relays]})
        log_file.write_text(via.model_dump_json())
        db = tmp_path / "a.db"
        console = ServiceProcess(site_file, db, cluster.dir, tmp_path / "a.log")
        seen = Capture(cluster.creds("observer", node=None), (f"{T.base}/#",), persistent=True).start()
        first = ScriptedUnit(cluster.creds("unit-spreekkamer-1", node=None), "spreekkamer-1", retry_s=0.5)
        unit = ScriptedUnit(cluster.creds("unit-balie-1", node=None), "balie-1", retry_s=0.5)  # lead chris
        try:
            console.start(["--ha", "a", "--ha-ttl", "30"])
            wait_until(lambda: "ACTIVE console a " in console.log(), 60, f"a active:\n{console.log()}")
            first.start(20)
            unit.start(20)
            control = first.press()  # before the fault: receipted as always
            wait_until(lambda: first.receipt_for(control.event_id) is not None, 30, "the control's receipt")

            for r in relays:
                r.flowing.clear()  # the log can confirm nothing from here on
            ev = unit.press()
            t_press = time.monotonic()

            def paged() -> list[Notification]:
                return [n for n in seen.notifications("chris") if n.reason is NotifyReason.ALARM]

            wait_until(lambda: bool(paged()), 30, f"the lead paged while the log is frozen:\n{console.log()}")
            page = paged()[0]
            print(
                f"\nlog frozen: the lead paged from memory {time.monotonic() - t_press:.1f} s after the press"
            )
            assert "niet opgeslagen" in page.body and "niet opgeslagen" in page.title, page
            for person in FACILITIES:
                wait_until(lambda p=person: bool(log_faults(seen, p)), 15, f"the log fault to {person}")
            assert "does not confirm" in log_faults(seen, "fien")[0].title
            wait_until(lambda: retransmitted(unit, ev, 4), 30, "the unit sending again (no receipt)")
            assert unit.receipt_for(ev.event_id) is None, "no receipt for what is not stored"
            assert query(db, "SELECT count(*) FROM received WHERE event_id = ?", str(ev.event_id)) == [(0,)]
            log = console.log()
            assert "CANNOT STORE" in log and "Traceback" not in log, log
            assert f"within {PAGE_AFTER_S:g} s" in log, log  # the site's bound, not the default
            before = Counter((n.level, n.reason) for n in alarm_pages(seen, "chris", page.incident_id))

            for r in relays:
                r.flowing.set()
            t_thaw = time.monotonic()
            wait_until(lambda: unit.receipt_for(ev.event_id) is not None, 60, "the receipt after the thaw")
            print(f"log flowing again: receipted {time.monotonic() - t_thaw:.1f} s later")
            got = unit.receipt_for(ev.event_id)
            assert got is not None and got.incident_id == page.incident_id and not got.duplicate
            for person in FACILITIES:
                wait_until(lambda p=person: bool(stores_again(seen, p)), 15, f"'stores again' to {person}")
            assert query(db, "SELECT count(*) FROM received WHERE event_id = ?", str(ev.event_id)) == [(1,)]
            assert query(db, "SELECT count(*) FROM incidents WHERE incident_id = ?", page.incident_id) == [
                (1,)
            ]
            faults = query(
                db, "SELECT count(*) FROM events WHERE kind = 'notified' AND data LIKE '%log_fault%'"
            )
            assert faults == [(1,)]
            for person in FACILITIES:
                assert len(log_faults(seen, person)) == 1, log_faults(seen, person)
            after = Counter((n.level, n.reason) for n in alarm_pages(seen, "chris", page.incident_id))
            assert after[(1, NotifyReason.ALARM)] == before[(1, NotifyReason.ALARM)] == 1, after
            assert console.proc is not None and console.proc.poll() is None, console.log()
        finally:
            first.stop()
            unit.stop()
            console.kill()
            seen.stop()


def log_faults(seen: Capture, person: str) -> list[Notification]:
    return [
        n
        for n in seen.notifications(person)
        if n.reason is NotifyReason.FAULT
        and ("de cluster bevestigt niet" in n.title or "does not confirm" in n.title)
    ]


@pytest.mark.parametrize("kill_a", [True, False], ids=["a-killed", "a-cut-off"])
def test_the_active_stopped_or_cut_off_while_it_pages_from_memory_leaves_the_press_to_the_standby(
    tmp_path: Path, relays: list[Relay], kill_a: bool
) -> None:
    """The active (a) reaches the log through the relays, the standby (b) directly. The log path
    freezes and a press is paged from memory by a (not stored, not receipted). Then either a is
    SIGKILLed and the relays flow again at once (a's unconfirmed append, still in the sockets'
    buffers, may now land in the log or be lost with a), or a stays up, cut off from the log: its
    lease runs out, it pauses, and when b takes the console's MQTT session over, a does not take
    it back (it did, every second, before: found by this test). Either way b takes over, the
    unit's retransmission is stored there once (deduplicated by event id when a's record landed),
    receipted, and the lead is paged by b. A duplicate page is allowed; a missed press or a
    double incident is not."""
    site_file = tmp_path / "site.toml"
    site_file.write_text(FAST_SITE)
    with started_cluster(SITE, tmp_path / "cluster") as cluster:
        a_dir = tmp_path / "a-broker"  # a's own broker directory: its log through the relays
        shutil.copytree(cluster.dir, a_dir, ignore=shutil.ignore_patterns("nodes"))
        creds = ClusterLogCredentials.model_validate_json((a_dir / "console-log.json").read_text())
        relays += [Relay((n.host, n.nats_port)) for n in cluster.nodes]
        via = creds.model_copy(update={"servers": [f"nats://127.0.0.1:{r.port}" for r in relays]})
        (a_dir / "console-log.json").write_text(via.model_dump_json())
        a = ServiceProcess(site_file, tmp_path / "a.db", a_dir, tmp_path / "a.log")
        b = ServiceProcess(site_file, tmp_path / "b.db", cluster.dir, tmp_path / "b.log")
        seen = Capture(cluster.creds("observer", node=None), (f"{T.base}/#",), persistent=True).start()
        first = ScriptedUnit(cluster.creds("unit-spreekkamer-1", node=None), "spreekkamer-1", retry_s=0.5)
        unit = ScriptedUnit(cluster.creds("unit-balie-1", node=None), "balie-1", retry_s=0.5)  # lead chris
        try:
            a.start(["--ha", "a", "--ha-ttl", "6"])  # longer than the 2 s before a page from memory
            wait_until(lambda: "ACTIVE console a " in a.log(), 60, f"a active:\n{a.log()}")
            b.start(["--ha", "b", "--ha-ttl", "6"])
            wait_until(lambda: "standby b " in b.log(), 60, f"b standby:\n{b.log()}")
            first.start(20)
            unit.start(20)
            control = first.press()  # another team's incident: balie-1's press below opens its own
            wait_until(lambda: first.receipt_for(control.event_id) is not None, 30, "the control's receipt")

            for r in relays:
                r.flowing.clear()
            ev = unit.press()

            def pages() -> list[Notification]:
                return [n for n in seen.notifications("chris") if n.reason is NotifyReason.ALARM]

            def memory_pages() -> list[Notification]:
                return [n for n in pages() if "niet opgeslagen" in n.body]

            wait_until(lambda: bool(memory_pages()), 30, f"a paging from memory:\n{a.log()}")
            assert unit.receipt_for(ev.event_id) is None
            if kill_a:
                a.kill()  # SIGKILL while the record is unconfirmed
                for r in relays:
                    r.flowing.set()
            t_kill = time.monotonic()
            wait_until(lambda: "ACTIVE console b " in b.log(), 60, f"b taking over:\n{b.log()}")
            wait_until(
                lambda: unit.receipt_for(ev.event_id) is not None, 60, f"the receipt from b:\n{b.log()}"
            )
            got = unit.receipt_for(ev.event_id)
            assert got is not None
            wait_until(
                lambda: any(n.incident_id == got.incident_id for n in pages()), 30, "b paging the lead"
            )
            landed = "a's record landed" if got.duplicate else "a's record was not stored"
            what = "a's SIGKILL" if kill_a else "the page from memory (a cut off)"
            print(f"\nreceipted by b {time.monotonic() - t_kill:.1f} s after {what} ({landed})")
            db = tmp_path / "b.db"
            assert query(db, "SELECT count(*) FROM received WHERE event_id = ?", str(ev.event_id)) == [(1,)]
            assert query(db, "SELECT count(*) FROM incidents WHERE incident_id = ?", got.incident_id) == [
                (1,)
            ]
            assert "Traceback" not in b.log(), b.log()
            if not kill_a:
                since = b.log().split("ACTIVE console b ", 1)[1]
                assert since.count("lost broker connection") <= 1, f"a and b fight for the session:\n{since}"
                assert "not reconnecting until the lease is renewed" in a.log(), a.log()
                for r in relays:
                    r.flowing.set()  # a reaches the log again: it learns of b's term and steps down
                wait_until(lambda: "stepping down" in a.log(), 60, f"a stepping down:\n{a.log()}")
        finally:
            first.stop()
            unit.stop()
            a.kill()
            b.kill()
            seen.stop()
