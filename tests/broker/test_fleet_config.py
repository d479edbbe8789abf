"""The per-unit config topic on a real broker with the rendered ACL (issue 17): only the console may
write unit/U/config, only unit U (and the observer) may read it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from stilalarm.wire.link import Link
from stilalarm.wire.topics import Topics
from tests.conftest import EXAMPLE_SITE
from tests.harness import mosquitto_pub, wait_until


def test_a_unit_login_cannot_publish_a_config_for_itself_or_another_unit(
    broker, capture, topics: Topics
) -> None:
    """The attack: with one unit's password, push a config (retained) that moves another unit's
    button, or one's own. The broker drops both; a late subscriber sees only the console's."""
    cap = capture(f"{topics.base}/unit/+/config")
    u = broker.creds("unit-balie-1")
    mosquitto_pub(u, topics.unit_config("balie-2"), b'{"forged": "other"}', retain=True)
    mosquitto_pub(u, topics.unit_config("balie-1"), b'{"forged": "self"}', retain=True)
    person = broker.creds("person-an")
    mosquitto_pub(person, topics.unit_config("balie-1"), b'{"forged": "person"}', retain=True)
    console = broker.creds("console")
    assert mosquitto_pub(console, topics.unit_config("balie-1"), b"control", retain=True).returncode == 0
    cap.wait_for(topics.unit_config("balie-1"))
    assert [(t, p) for t, p, _r in cap.messages] == [(topics.unit_config("balie-1"), b"control")]
    late = capture(f"{topics.base}/unit/+/config")  # retained: what a unit gets on connect
    late.wait_for(topics.unit_config("balie-1"))
    assert [(t, p) for t, p, _r in late.messages] == [(topics.unit_config("balie-1"), b"control")]


def test_a_unit_cannot_read_another_units_config(broker, link, topics: Topics) -> None:
    seen_a: list[tuple[str, bytes]] = []
    seen_b: list[bytes] = []
    a = link("unit-balie-1", connect=False)
    a.subscribe(topics.unit_config("balie-2"), lambda t, p: seen_a.append((t, p)))
    a.subscribe(topics.unit_config("balie-1"), lambda t, p: seen_a.append((t, p)))
    a.start()
    assert a.wait_connected(5)
    b = link("unit-balie-2", connect=False)
    b.subscribe(topics.unit_config("balie-2"), lambda t, p: seen_b.append(p))
    b.start()
    assert b.wait_connected(5)
    console = link("console")
    console.publish(topics.unit_config("balie-2"), b"for-b", qos=1, retain=True).wait_for_publish(5)
    console.publish(topics.unit_config("balie-1"), b"for-a", qos=1, retain=True).wait_for_publish(5)
    wait_until(lambda: seen_b == [b"for-b"] and len(seen_a) == 1, what="configs delivered")
    assert seen_a == [(topics.unit_config("balie-1"), b"for-a")]


def test_a_new_unit_connects_after_render_reloads_the_broker(broker, link, site, tmp_path: Path) -> None:
    """`alarm-broker render --reload-broker PID`: the new unit's login and ACL are live without a
    broker restart, and the clients already connected stay connected."""
    console = link("console")
    new = (
        '\n[[units]]\nid = "balie-9"\nroom = "balie-1"\n'
        'buttons = [{ id = "knop", contact = "no", pin = 5 }]\n'
    )
    site_file = tmp_path / "site.toml"
    site_file.write_text(EXAMPLE_SITE.read_text() + new)
    assert broker.proc is not None
    argv = [str(Path(sys.executable).parent / "alarm-broker"), "render", "--site", str(site_file)]
    argv += ["--out", str(broker.dir), "--port", str(broker.port), "--reload-broker", str(broker.proc.pid)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # render rewrote mosquitto.conf with log to stdout; the running broker keeps its own settings
    topics = Topics(site.site.id)
    got: list[bytes] = []

    def connects() -> bool:
        lk = Link(broker.creds("unit-balie-9"), client_id="unit-balie-9")
        lk.subscribe(topics.unit_config("balie-9"), lambda _t, p: got.append(p))
        lk.start()
        ok = lk.wait_connected(2)
        if ok:
            console.publish(topics.unit_config("balie-9"), b"cfg", qos=1, retain=True).wait_for_publish(5)
            wait_until(lambda: got == [b"cfg"], what="its config")
        lk.stop()
        return ok

    wait_until(connects, 20, "the new unit's login accepted")
    assert console.connected.is_set()
