"""`alarm-broker render --profile cluster`: node configs from site.toml and the one ACL source."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from stilalarm.broker_config.acl import acl_rules, usernames
from stilalarm.broker_config.cli import main
from stilalarm.broker_config.cluster import MQTT_DELIVERY, all_permissions, site_permissions, subjects
from stilalarm.inventory import load_site
from stilalarm.wire.credentials import BrokerCredentials
from stilalarm.wire.identity import owns, random_suffix

SITE = Path(__file__).resolve().parents[2] / "examples" / "site.toml"


def test_every_acl_grant_becomes_a_nats_permission_and_nothing_more() -> None:
    site = load_site(SITE)
    perms = {p.user: p for p in all_permissions(site)}
    for rules in acl_rules(site):
        p = perms[rules.user]
        want_pub = [s for g in rules.grants if g.access != "read" for s in subjects(g.topic)]
        want_sub = [s for g in rules.grants if g.access != "write" for s in subjects(g.topic)]
        assert list(p.publish) == want_pub
        assert list(p.subscribe) == ([*want_sub, MQTT_DELIVERY] if want_sub else [])
    assert set(perms) == {*usernames(site), "enroll"}


def test_render_writes_one_config_per_node_and_mosquitto_stays_the_default(tmp_path: Path) -> None:
    out = tmp_path / "cluster"
    assert main(["render", "--profile", "cluster", "--site", str(SITE), "--out", str(out)]) == 0
    nodes = json.loads((out / "nodes.json").read_text())
    assert [n["name"] for n in nodes] == ["n1", "n2", "n3"]
    for n in nodes:
        conf = (out / "nodes" / n["name"] / "nats.conf").read_text()
        assert "stream_replicas: 3" in conf and "consumer_replicas: 3" in conf
        assert conf.count("nats-route://") == 2  # the two others
        # clients reach only the rendered addresses, never one the cluster gossips
        assert "no_advertise: true" in conf.split("cluster {")[1].split("\n}")[0]
        assert (out / "nodes" / n["name"] / "nats.conf").stat().st_mode & 0o077 == 0
    console = json.loads((out / "console.json").read_text())
    assert console["port"] == nodes[0]["port"]
    assert not (out / "mosquitto.conf").exists()


def test_every_client_config_lists_every_node_the_first_preferred(tmp_path: Path) -> None:
    out = tmp_path / "cluster"
    assert main(["render", "--profile", "cluster", "--site", str(SITE), "--out", str(out)]) == 0
    want = [{"host": n["host"], "port": n["port"]} for n in json.loads((out / "nodes.json").read_text())]
    assert len(want) == 3
    files = [
        out / "console.json",
        out / "observer.json",
        *(out / "units").glob("*.json"),
        *(out / "people").glob("*.json"),
    ]
    blocks = [json.loads(f.read_text()) for f in files]
    creds = [b.get("broker", b) for b in blocks] + [json.loads((out / "web.json").read_text())["broker"]]
    assert len(creds) > 4
    for c in creds:
        assert c["addresses"] == want
        assert (c["host"], c["port"]) == (want[0]["host"], want[0]["port"])
        assert BrokerCredentials.model_validate(c).addresses[2].port == want[2]["port"]


def test_a_mosquitto_render_stays_one_host_and_port(tmp_path: Path) -> None:
    out = tmp_path / "mq"
    assert main(["render", "--site", str(SITE), "--out", str(out)]) == 0
    for f in [out / "console.json", *(out / "units").glob("*.json")]:
        data = json.loads(f.read_text())
        c = data.get("broker", data)
        assert "addresses" not in c  # readable by units that do not know the field
        assert [(a.host, a.port) for a in BrokerCredentials.model_validate(c).addresses] == [
            (c["host"], c["port"])
        ]


def test_plain_nodes_on_other_hosts_are_refused(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    text = SITE.read_text() + (
        '\n[cluster]\nreplicas = 1\n[[cluster.nodes]]\nname = "a"\nhost = "10.0.0.1"\nmqtt_port = 1\n'
        "route_port = 2\nnats_port = 3\n"
    )
    site = tmp_path / "site.toml"
    site.write_text(text)
    out = tmp_path / "out"
    assert main(["render", "--profile", "cluster", "--site", str(site), "--out", str(out)]) == 2
    assert "need TLS" in capsys.readouterr().err
    assert not (out / "nodes").exists()


def test_console_log_login_and_the_nats_client_port(tmp_path: Path) -> None:
    """The consoles' log login: native NATS only, its own stream and bucket, every node's NATS
    address in console-log.json (0600); the NATS port plain on loopback, or TLS everywhere."""
    from stilalarm.broker_config.cluster import CONSOLE_LOG_USER, ClusterOptions, render_cluster
    from stilalarm.console.ha.jetstream import ClusterLogCredentials

    site = load_site(SITE)
    out = tmp_path / "plain"
    render_cluster(site, ClusterOptions(out=out))
    creds = ClusterLogCredentials.model_validate_json((out / "console-log.json").read_text())
    assert (out / "console-log.json").stat().st_mode & 0o077 == 0
    assert creds.servers == [f"nats://127.0.0.1:{n.nats_port}" for n in site.cluster.nodes]
    assert creds.username == CONSOLE_LOG_USER and creds.ca_file is None
    # the queued QoS1 messages' limits the console sets (docs/HA.md, item 13): 16 per topic, a
    # quarter of a node's store in all
    assert creds.mqtt_queue is not None
    assert creds.mqtt_queue.per_topic == site.cluster.queued_per_topic == 16
    assert creds.mqtt_queue.max_bytes == site.cluster.max_file_store_mb * 1024 * 1024 // 4
    assert creds.mqtt_queue.replicas == site.cluster.replicas
    assert creds.password == json.loads((out / "secrets.json").read_text())[CONSOLE_LOG_USER]
    conf = (out / "nodes" / "n1" / "nats.conf").read_text()
    assert f'listen: "127.0.0.1:{site.cluster.nodes[0].nats_port}"' in conf
    logins = (out / "accounts.conf").read_text()  # the logins, shared by every node
    assert logins.count('allowed_connection_types: ["STANDARD"]') == 1
    assert "\ntls {" not in conf

    nodes = tuple(
        n.model_copy(update={"host": f"alarm-{i}.example"}) for i, n in enumerate(site.cluster.nodes)
    )
    tls_site = site.model_copy(
        update={
            "broker": site.broker.model_copy(update={"use_tls": True}),
            "cluster": site.cluster.model_copy(update={"nodes": nodes}),
        }
    )
    out = tmp_path / "tls"
    render_cluster(tls_site, ClusterOptions(out=out, tls_dir=tmp_path / "ca"))
    creds = ClusterLogCredentials.model_validate_json((out / "console-log.json").read_text())
    assert creds.servers == [f"tls://alarm-{i}.example:{n.nats_port}" for i, n in enumerate(nodes)]
    assert creds.ca_file == str((tmp_path / "ca" / "ca.crt").resolve())
    conf = (out / "nodes" / "n1" / "nats.conf").read_text()
    assert f'listen: "0.0.0.0:{nodes[0].nats_port}"' in conf
    assert "\ntls {" in conf


# -- secret client ids (docs/HA.md "What is open" 1: NATS does not bind a client id to its login) --


def _client_ids(out: Path) -> dict[str, str]:
    """username -> client_id of every rendered client config."""
    files = [out / "console.json", out / "observer.json", *(out / "units").glob("*.json")]
    files += [*(out / "people").glob("*.json")]
    blocks = [json.loads(f.read_text()) for f in files]
    creds = [b.get("broker", b) for b in blocks] + [json.loads((out / "web.json").read_text())["broker"]]
    return {c["username"]: c["client_id"] for c in creds}


def test_every_login_gets_a_secret_client_id_kept_across_renders_new_with_rotate(tmp_path: Path) -> None:
    out = tmp_path / "cluster"
    render = ["render", "--profile", "cluster", "--site", str(SITE), "--out", str(out)]
    assert main(render) == 0
    first = _client_ids(out)
    assert set(first) == set(usernames(load_site(SITE)))
    for user, cid in first.items():
        assert re.fullmatch(re.escape(user) + r"\.[0-9a-f]{32}", cid), cid  # 128 random bits
        assert owns(user, cid)  # the mosquitto plugin's rule would accept it too
    suffixes = [cid.rpartition(".")[2] for cid in first.values()]
    assert len(set(suffixes)) == len(suffixes)
    secrets_ = json.loads((out / "secrets.json").read_text())
    assert {u: f"{u}.{secrets_[f'client-id:{u}']}" for u in first} == first
    assert (out / "secrets.json").stat().st_mode & 0o077 == 0

    assert main(render) == 0
    assert _client_ids(out) == first, "a re-render keeps every client id (as it keeps the passwords)"

    assert main([*render, "--rotate"]) == 0
    rotated = _client_ids(out)
    assert set(rotated) == set(first)
    assert all(rotated[u] != first[u] for u in first), "--rotate makes new client ids"


def test_a_mosquitto_render_writes_no_client_id(tmp_path: Path) -> None:
    """The mosquitto profile binds ids with its plugin: its configs stay as they were."""
    out = tmp_path / "mq"
    assert main(["render", "--site", str(SITE), "--out", str(out)]) == 0
    for f in [out / "console.json", out / "observer.json", *(out / "units").glob("*.json")]:
        data = json.loads(f.read_text())
        c = data.get("broker", data)
        assert "client_id" not in c
        assert BrokerCredentials.model_validate(c).session_client_id() == c["username"]
    assert not any(k.startswith("client-id:") for k in json.loads((out / "secrets.json").read_text()))


def test_a_client_id_must_belong_to_its_login_and_carry_a_secret() -> None:
    base = {"site_id": "s", "username": "unit-a", "password": "p" * 16, "host": "h", "port": 1}
    ok = BrokerCredentials.model_validate({**base, "client_id": "unit-a." + "0" * 16})
    assert ok.session_client_id() == "unit-a." + "0" * 16
    assert ok.session_client_id("visits") == "unit-a." + "0" * 16 + "-visits"
    plain = BrokerCredentials.model_validate(base)
    assert plain.session_client_id() == "unit-a" and plain.session_client_id("visits") == "unit-a.visits"
    assert "client_id" not in json.loads(plain.model_dump_json())
    for bad in ("console." + "0" * 32, "unit-a", "unit-a.short", "unit-ab." + "0" * 32):
        with pytest.raises(ValidationError, match="client_id must be"):
            BrokerCredentials.model_validate({**base, "client_id": bad})


def test_per_run_client_ids_carry_64_random_bits() -> None:
    """TUIs and one-shot commands: unguessable on both profiles (ids are never reused)."""
    from stilalarm.console.tui.bus import Bus

    assert re.fullmatch(r"tui-[0-9a-f]{16}", random_suffix("tui"))
    assert len({random_suffix("cli") for _ in range(1000)}) == 1000
    creds = BrokerCredentials(site_id="s", username="person-an", password="p" * 16, host="h", port=1)
    bus = Bus(creds, "an", lambda _ev: None, console_id="pc")
    cid = bus.link._client._client_id.decode()
    assert re.fullmatch(r"person-an\.tui-[0-9a-f]{16}", cid), cid


def test_a_new_unit_password_on_the_cluster_also_gives_a_new_secret_client_id(tmp_path: Path) -> None:
    """Enrolment and revocation (`new_unit_password`) on a cluster directory: the unit gets a new
    password and a new secret client id (a thief who read the old config cannot take over the
    session: NATS binds no id to a login); every other login keeps both."""
    from stilalarm.broker_config.cluster import ClusterOptions, render_cluster
    from stilalarm.broker_config.render import new_unit_password

    site = load_site(SITE)
    out = tmp_path / "c"
    render_cluster(site, ClusterOptions(out=out))
    unit = next(u for u in site.units if (out / "units" / f"{u.id}.json").exists())
    other = next(u for u in site.units if u.id != unit.id and (out / "units" / f"{u.id}.json").exists())
    before = json.loads((out / "units" / f"{unit.id}.json").read_text())["broker"]
    other_before = (out / "units" / f"{other.id}.json").read_text()
    cfg = new_unit_password(site, out, unit.id)
    assert cfg.broker.password != before["password"]
    assert cfg.broker.client_id is not None and cfg.broker.client_id != before["client_id"]
    assert cfg.broker.client_id.startswith(f"unit-{unit.id}.")
    after = json.loads((out / "units" / f"{unit.id}.json").read_text())["broker"]
    assert after["client_id"] == cfg.broker.client_id and after["password"] == cfg.broker.password
    assert (out / "units" / f"{other.id}.json").read_text() == other_before
    assert cfg.broker.password in (out / "accounts.conf").read_text()


def test_the_site_account_grants_no_enrolment_topic(tmp_path: Path) -> None:
    """Enrolment lives in its own account on the cluster: the console's (or anyone's) grants for
    its topics in the site account would be permissions nobody uses (least privilege)."""
    out = tmp_path / "cluster"
    assert main(["render", "--profile", "cluster", "--site", str(SITE), "--out", str(out)]) == 0
    site_part, enrol_part = (out / "accounts.conf").read_text().split("STILALARM_ENROLL {")
    assert ".enroll." not in site_part
    assert enrol_part.count(".enroll.") >= 4  # enroll and console-enroll: requests and replies
    site = load_site(SITE)
    assert all(".enroll." not in s for p in site_permissions(site) for s in (*p.publish, *p.subscribe))
    assert {p.user for p in site_permissions(site)} == set(usernames(site))
