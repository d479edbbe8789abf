"""`alarm-broker region`: one cluster's node configs for many sites, an account per site
(broker_config/region.py). The running region is tested in tests/broker/test_region.py."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from stilalarm.broker_config.cli import main
from stilalarm.broker_config.cluster import ClusterOptions, render_cluster
from stilalarm.broker_config.decommission import Decommission, delete_streams
from stilalarm.broker_config.render import RenderError, new_unit_password
from stilalarm.inventory import load_site

SITE = Path(__file__).resolve().parents[2] / "examples" / "site.toml"
A_ID = "hz-gemeentehuis"


def other_site(tmp_path: Path, site_id: str, cluster: str = "") -> Path:
    """The example site under another id, with `cluster` as its [cluster] section."""
    text = SITE.read_text().replace(f'id = "{A_ID}"', f'id = "{site_id}"', 1)
    assert "[cluster]" not in text
    text = text.replace("\n[[teams]]", f"\n{cluster}\n[[teams]]", 1) if cluster else text
    path = tmp_path / f"{site_id}.toml"
    path.write_text(text)
    return path


def tls_site(tmp_path: Path) -> Path:
    path = other_site(tmp_path, "b-site")
    path.write_text(path.read_text().replace("use_tls = false", "use_tls = true", 1))
    return path


def region(tmp_path: Path, *sites: Path) -> tuple[int, Path]:
    out = tmp_path / "region"
    args = ["region", *(a for s in sites for a in ("--site", str(s))), "--out", str(out)]
    return main(args), out


def test_two_sites_one_set_of_nodes_an_account_and_suffixed_logins_each(tmp_path: Path) -> None:
    code, out = region(tmp_path, SITE, other_site(tmp_path, "b-site"))
    assert code == 0
    assert sorted(p.name for p in (out / "nodes").iterdir()) == ["n1", "n2", "n3"]
    conf = (out / "nodes" / "n1" / "nats.conf").read_text()
    assert 'include "../../accounts.conf"' in conf and "a region of 2 sites" in conf
    for sid in (A_ID, "b-site"):
        d = out / "sites" / sid
        assert json.loads((d / "region.json").read_text()) == {
            "account": f"SITE_{sid}",
            "login_suffix": f"@{sid}",
            "store_bytes": 3 * 1024 * 1024 * 1024 // 2,  # the 3 nodes' 1 GiB stores, halved
        }
        own = (d / "accounts.conf").read_text()
        assert f"jetstream: {{ max_file: {3 * 1024**3 // 2}, max_mem: {3 * 256 * 1024**2 // 2} }}" in own
        unit = json.loads((d / "units" / "balie-1.json").read_text())["broker"]
        assert unit["username"] == f"unit-balie-1@{sid}" and unit["site_id"] == sid
        assert unit["client_id"].startswith(f"unit-balie-1@{sid}.")
        log_creds = json.loads((d / "console-log.json").read_text())
        assert log_creds["username"] == f"console-log@{sid}"
        # the sites share the store: each site's queued QoS1 messages get half of the quarter
        assert log_creds["mqtt_queue"]["max_bytes"] == 1024 * 1024 * 1024 // 4 // 2
        secrets = json.loads((d / "secrets.json").read_text())
        assert "route" not in secrets and "system" not in secrets, "the region's own secrets are not a site's"
    region_secrets = json.loads((out / "secrets.json").read_text())
    assert set(region_secrets) == {"route", "system"}
    a_pw = json.loads((out / "sites" / A_ID / "secrets.json").read_text())
    b_pw = json.loads((out / "sites" / "b-site" / "secrets.json").read_text())
    assert a_pw["unit-balie-1"] != b_pw["unit-balie-1"]
    # a second render keeps every password (as `render` does), --rotate would not
    assert region(tmp_path, SITE, other_site(tmp_path, "b-site"))[0] == 0
    assert json.loads((out / "sites" / A_ID / "secrets.json").read_text()) == a_pw
    assert json.loads((out / "secrets.json").read_text()) == region_secrets


def test_a_site_alone_renders_as_before(tmp_path: Path) -> None:
    """`render --profile cluster` keeps the STILALARM account and the bare logins."""
    render_cluster(load_site(SITE), ClusterOptions(out=tmp_path))
    assert (
        json.loads((tmp_path / "units" / "balie-1.json").read_text())["broker"]["username"] == "unit-balie-1"
    )
    text = (tmp_path / "accounts.conf").read_text()
    assert "  STILALARM {" in text and "  SYS {" in text and not (tmp_path / "region.json").exists()


def test_a_former_region_sites_directory_rendered_alone_is_a_site_alone_again(tmp_path: Path) -> None:
    code, out = region(tmp_path, SITE, other_site(tmp_path, "b-site"))
    assert code == 0
    d = out / "sites" / A_ID
    render_cluster(load_site(SITE), ClusterOptions(out=d))
    assert not (d / "region.json").exists()
    assert json.loads((d / "units" / "balie-1.json").read_text())["broker"]["username"] == "unit-balie-1"


def test_sites_may_differ_in_how_long_their_console_waits_for_the_log(tmp_path: Path) -> None:
    """`page_after_s` is each site's console's setting, not the cluster's: no reason to refuse."""
    b = other_site(tmp_path, "b-site", "[cluster]\npage_after_s = 1.5\n")
    assert load_site(b).cluster.page_after_s == 1.5 != load_site(SITE).cluster.page_after_s
    code, out = region(tmp_path, SITE, b)
    assert code == 0 and (out / "accounts.conf").exists()
    assert (out / "sites" / "b-site" / "console.json").exists()


@pytest.mark.parametrize(
    ("second", "why"),
    [
        (lambda d: SITE, "more than once"),
        (lambda d: other_site(d, "b-site", '[cluster]\nname = "other"\n'), "[cluster] differs"),
        (lambda d: other_site(d, "b-site", "[cluster]\nmax_ack_pending = 7\n"), "[cluster] differs"),
        (lambda d: tls_site(d), "use_tls under [broker] differs"),
    ],
)
def test_sites_that_cannot_share_a_cluster_are_refused_with_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], second: object, why: str
) -> None:
    path = second(tmp_path)  # type: ignore[operator]
    code, out = region(tmp_path, SITE, path)
    err = capsys.readouterr().err
    assert code == 2 and why in err, err
    assert not (out / "accounts.conf").exists()


def test_a_site_left_out_of_a_new_render_is_refused_not_dropped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A forgotten --site would take that site's logins (and alarms) off the nodes at their next
    reload: the render refuses, names the site and what to do, and changes nothing."""
    b = other_site(tmp_path, "b-site")
    code, out = region(tmp_path, SITE, b)
    assert code == 0
    before = (out / "accounts.conf").read_text()
    assert "sites/b-site/" in before
    capsys.readouterr()
    code, _ = region(tmp_path, SITE)
    err = capsys.readouterr().err
    assert code == 2 and "site b-site is in the region" in err and "--remove" in err, err
    assert (out / "accounts.conf").read_text() == before
    assert (out / "sites" / "b-site" / "region.json").exists()


def test_remove_first_leaves_the_site_only_a_login_to_delete_its_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first --remove: the site's accounts stay (their streams still count against the store)
    with one decommission login each and none of the site's own; its quota and the others' stay."""
    b = other_site(tmp_path, "b-site")
    code, out = region(tmp_path, SITE, b)
    assert code == 0
    half = json.loads((out / "sites" / A_ID / "region.json").read_text())["store_bytes"]
    assert main(["region", "--site", str(SITE), "--out", str(out), "--remove", "b-site"]) == 0
    assert "site b-site: removal begun" in capsys.readouterr().out
    assert "sites/b-site/" in (out / "accounts.conf").read_text()
    accounts = (out / "sites" / "b-site" / "accounts.conf").read_text()
    users = re.findall(r'user: "([^"]+)"', accounts)
    assert users == ["decommission@b-site", "decommission-enroll@b-site"], users
    assert "SITE_b-site {" in accounts and "SITE_b-site_ENROLL {" in accounts
    dec = out / "sites" / "b-site" / "decommission.json"
    assert dec.stat().st_mode & 0o777 == 0o600
    assert [u for u, _ in json.loads(dec.read_text())["logins"]] == users
    assert [u for u, _ in Decommission.load(dec).logins] == users
    assert json.loads((out / "sites" / A_ID / "region.json").read_text())["store_bytes"] == half
    # enrolment cannot write the site's logins back meanwhile
    with pytest.raises(RenderError, match="being removed from its region"):
        new_unit_password(load_site(b), out / "sites" / "b-site", "balie-1")
    # a render that forgets it now says what to do; given again, the site is kept after all
    capsys.readouterr()
    assert region(tmp_path, SITE)[0] == 2
    assert "site b-site is being removed" in capsys.readouterr().err
    assert region(tmp_path, SITE, b)[0] == 0
    assert not dec.exists()
    assert "unit-balie-1@b-site" in (out / "sites" / "b-site" / "accounts.conf").read_text()


def test_a_removal_that_cannot_reach_the_nodes_says_what_to_do(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    d = Decommission(servers=(f"nats://127.0.0.1:{port}",), logins=(("decommission@b-site", "pw"),))
    with pytest.raises(RenderError, match=r"Reload every node .* run the same command again"):
        delete_streams(d, wait_s=0.5, timeout_s=0.5)


@pytest.mark.parametrize(
    ("remove", "why"),
    [("nope", "--remove nope: not a site of the region"), (A_ID, "both given (--site) and to be removed")],
)
def test_a_remove_that_cannot_be_meant_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], remove: str, why: str
) -> None:
    code, out = region(tmp_path, SITE, other_site(tmp_path, "b-site"))
    assert code == 0
    before = (out / "accounts.conf").read_text()
    capsys.readouterr()
    args = ["region", "--site", str(SITE), "--site", str(other_site(tmp_path, "b-site"))]
    assert main([*args, "--out", str(out), "--remove", remove]) == 2
    assert why in capsys.readouterr().err
    assert (out / "accounts.conf").read_text() == before
