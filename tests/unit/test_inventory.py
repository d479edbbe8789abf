"""The site inventory: the example is valid; each kind of mistake names file, field and problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from stilalarm.inventory import InventoryError, load_site, parse_site
from stilalarm.inventory.kinds import Target

MINIMAL = """
[site]
id = "testsite"
name = "Test"

[[teams]]
id = "team-a"
name = "Team A"
leads = ["lead-a"]
deputies = ["dep-a"]

[[rooms]]
id = "room-1"
label = "Balie 1"
kind = "balie"
team = "team-a"

[[units]]
id = "unit-1"
room = "room-1"
led_pin = 17
buttons = [{ id = "knop", contact = "dual", pin = 5, nc_pin = 6 }]

[[people]]
id = "lead-a"
name = "Lead A"
roles = ["lead"]

[[people]]
id = "dep-a"
name = "Deputy A"
roles = ["deputy"]

[[people]]
id = "fac"
name = "Facilities"
roles = ["facilities"]
"""


def test_example_site_is_valid_and_realistic(site) -> None:
    assert (len(site.teams), len(site.units), len(site.people)) == (3, 13, 6)
    assert [u.id for u in site.units if u.via.value != "gpio"] == [
        "telefoon-balie-1",
        "telefoon-spreekkamer-1",
        "gsm-dirk",
    ]
    assert len(site.rooms) >= 8
    sd = site.team("sociale-dienst")
    assert [lv.after_s for lv in sd.escalation.levels] == [0, 30, 60]
    assert sd.escalation.levels[-1].call_101


def test_minimal_is_valid_and_gets_protocol_defaults() -> None:
    s = parse_site(MINIMAL, "mini.toml")
    levels = s.team("team-a").escalation.levels
    assert [lv.after_s for lv in levels] == [0, 30, 60]
    assert levels[0].notify == (Target.TEAM_LEADS,)
    assert s.resolve_targets("team-a", levels[1].notify) == ("dep-a",)
    assert s.team("team-a").escalation.repeat_every_s == 60


@pytest.mark.parametrize(
    ("old", "new", "field", "problem"),
    [
        (
            'room = "room-1"\nled_pin',
            'room = "room-9"\nled_pin',
            "units[0] (id='unit-1').room",
            "unknown room 'room-9'",
        ),
        (
            'id = "unit-1"',
            'id = "unit-1"\nroom = "room-1"\nbuttons = []\n[[units]]\nid = "unit-1"',
            "units",
            "at least 1 item",
        ),
        ("led_pin = 17", "led_pin = 6", "units[0] (id='unit-1')", "GPIO 6 used twice"),
        ('leads = ["lead-a"]', "leads = []", "teams[0] (id='team-a').leads", "at least one lead"),
        (
            'deputies = ["dep-a"]',
            'deputies = ["ghost"]',
            "teams[0] (id='team-a').deputies",
            "unknown person 'ghost'",
        ),
        (", nc_pin = 6 ", "", "buttons[0]", "needs nc_pin"),
        ('name = "Test"', 'name = "Test"\ntimezone = "Mars/Olympus"', "site.timezone", "unknown time zone"),
        ('kind = "balie"', 'kind = "kantine"', "rooms[0] (id='room-1').kind", "Input should be"),
        ('roles = ["facilities"]', 'roles = ["deputy"]', "people", "nobody has role 'facilities'"),
        ("pin = 5", "pin = 1", "buttons[0]", "not a usable BCM GPIO"),
        ('id = "unit-1"', 'id = "Unit 1!"', "units[0]", "should match pattern"),
    ],
)
def test_invalid_inventory_names_file_field_and_problem(old, new, field, problem) -> None:
    assert old in MINIMAL, old
    text = MINIMAL.replace(old, new, 1)
    with pytest.raises(InventoryError) as err:
        parse_site(text, "site-under-test.toml")
    msg = str(err.value)
    assert "site-under-test.toml" in msg
    assert field in msg, msg
    assert problem in msg, msg


def test_duplicate_unit_id() -> None:
    dup = (
        MINIMAL
        + '\n[[units]]\nid = "unit-1"\nroom = "room-1"\nbuttons = [{ id = "k", contact = "no", pin = 5 }]\n'
    )
    with pytest.raises(InventoryError, match=r"units\[1\].id: duplicate unit id 'unit-1'"):
        parse_site(dup, "dup.toml")


def test_escalation_levels_must_increase_and_end_with_101() -> None:
    base = MINIMAL.replace(
        'deputies = ["dep-a"]',
        'deputies = ["dep-a"]\n[teams.escalation]\nlevels = [{ after_s = 0, notify = ["team_leads"] },'
        ' { after_s = 30, notify = ["team_deputies"] }]',
    )
    with pytest.raises(InventoryError, match="call_101"):
        parse_site(base, "x.toml")
    unordered = base.replace("after_s = 30", "after_s = 0")
    with pytest.raises(InventoryError, match="strictly increase"):
        parse_site(unordered, "x.toml")


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"bad\.toml: not valid TOML"):
        parse_site("[site\n", "bad.toml")
    with pytest.raises(InventoryError, match="cannot read site inventory"):
        load_site(tmp_path / "nope.toml")


def test_lead_unit_needs_person() -> None:
    text = MINIMAL.replace('id = "unit-1"\nroom = "room-1"', 'id = "unit-1"\nroom = "room-1"\nrole = "lead"')
    with pytest.raises(InventoryError, match="lead unit needs person"):
        parse_site(text, "x.toml")


def test_resolve_targets_level3_dedupes(site) -> None:
    lv = site.team("sociale-dienst").escalation.levels[2]
    ids = site.resolve_targets("sociale-dienst", lv.notify)
    assert ids == ("an", "bart", "chris", "els", "dirk")
    assert len(set(ids)) == len(ids)


def test_channels_default_by_level_and_secrets_by_reference() -> None:
    text = (
        MINIMAL.replace(
            'name = "Lead A"',
            'name = "Lead A"\nemail = "a@example.org"\n'
            'apprise = [{ url = "ntfy://ntfy.example.org/{secret}", secret = "env:NTFY_A" }]',
        )
        + '\n[smtp]\nhost = "127.0.0.1"\nfrom_addr = "alarm@example.org"\npassword = "file:/etc/pw"\n'
    )
    s = parse_site(text, "x.toml")
    a = s.person("lead-a")
    assert {k.value for k in a.channels_at(1)} == {"console", "pager"}
    assert {k.value for k in a.channels_at(3)} == {"console", "pager", "email", "apprise"}
    with pytest.raises(InventoryError, match="needs an \\[smtp\\] section"):
        parse_site(text.split("\n[smtp]")[0], "x.toml")
    with pytest.raises(InventoryError, match="url contains a password"):
        parse_site(
            text.replace("ntfy://ntfy.example.org/{secret}", "mailto://u:hunter2@x.org/{secret}"), "x.toml"
        )
    with pytest.raises(InventoryError, match="password"):
        parse_site(text.replace('password = "file:/etc/pw"', 'password = "hunter2"'), "x.toml")


def test_reading_a_unit_config_does_not_import_mqtt(tmp_path: Path) -> None:
    """inventory and the credentials it carries load with paho blocked: no transport below them."""
    import subprocess
    import sys

    cfg = tmp_path / "unit.json"
    cfg.write_text(
        '{"site_id": "testsite", "unit": {"id": "unit-1", "room": "room-1", "buttons": '
        '[{"id": "knop", "contact": "no", "pin": 5}]}, "broker": {"site_id": "testsite", '
        '"username": "unit-unit-1", "password": "0123456789abcdef", "host": "127.0.0.1", "port": 1883}}',
        encoding="utf-8",
    )
    code = (
        "import sys\n"
        "for name in ('paho', 'paho.mqtt', 'paho.mqtt.client', 'stilalarm.wire.link'):\n"
        "    sys.modules[name] = None  # any import of them now fails\n"
        "import stilalarm.inventory, stilalarm.inventory.derived\n"
        "from stilalarm.inventory.derived import UnitConfig\n"
        "from stilalarm.wire.credentials import load_json_model\n"
        f"cfg = load_json_model(UnitConfig, {str(cfg)!r})\n"
        "print(cfg.unit.id, cfg.broker.username)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["unit-1", "unit-unit-1"]


def test_site_indexes_are_built_once_and_hold_the_inventory_s_own_objects() -> None:
    site = load_site(Path(__file__).resolve().parents[2] / "examples" / "site.toml")
    assert site.index is site.index  # built at validation, not per call
    for kind, lookup in (
        (site.teams, site.team),
        (site.rooms, site.room),
        (site.units, site.unit),
        (site.people, site.person),
    ):
        for item in kind:
            assert lookup(item.id) is item
    assert list(site.index.units) == [u.id for u in site.units]  # inventory order
    with pytest.raises(KeyError):
        site.unit("no-such-unit")
    again = parse_site(Path(__file__).resolve().parents[2].joinpath("examples", "site.toml").read_text())
    assert again == site and again.index is not site.index


def test_site_lookups_answer_as_a_scan_of_the_inventory_would() -> None:
    from stilalarm.inventory.kinds import Role, RoomKind, UnitRole

    site = load_site(Path(__file__).resolve().parents[2] / "examples" / "site.toml")
    for role in Role:
        assert site.people_with(role) == tuple(p.id for p in site.people if role in p.roles)
    pagers: dict[str, list[str]] = {}
    for u in site.units:
        if u.role is UnitRole.LEAD and u.person is not None:
            pagers.setdefault(u.person, []).append(u.id)
    assert pagers and {k: tuple(v) for k, v in pagers.items()} == dict(site.index.pagers)
    for r in site.rooms:
        want = r.id if r.kind is RoomKind.WACHTZAAL else r.waiting_room
        assert site.waiting_room_for(r.id) == want
        assert site.units_in_scope("room", r.id) == tuple(u.id for u in site.units if u.room == r.id)
    for t in site.teams:
        assert site.units_in_scope("team", t.id) == tuple(
            u.id for u in site.units if site.room(u.room).team == t.id
        )
    assert site.units_in_scope("site", None) == tuple(u.id for u in site.units)
    assert site.units_in_scope("unit", "balie-1") == ("balie-1",)
    for scope in ("unit", "room", "team"):
        assert site.units_in_scope(scope, "nope") is None
        assert site.units_in_scope(scope, None) is None


def test_a_copied_site_is_indexed_anew() -> None:
    site = parse_site(MINIMAL)
    extra = site.units[0].model_copy(update={"id": "unit-2"})
    grown = site.model_copy(update={"units": (*site.units, extra)})
    assert list(grown.index.units) == ["unit-1", "unit-2"] and grown.unit("unit-2") is extra
    assert list(site.index.units) == ["unit-1"]  # the original is untouched
    moved = site.model_copy(update={"broker": site.broker.model_copy(update={"port": 1884})})
    assert moved.unit("unit-1") is site.unit("unit-1")
