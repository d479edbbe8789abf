"""Subjects and bodies of fan-out messages: Dutch by default, English per person, from the inventory."""

from __future__ import annotations

from datetime import timedelta

from stilalarm.console.delivery.mail import build_message
from stilalarm.console.delivery.texts import channel_fault_text, channel_recovered_text, render
from stilalarm.inventory.kinds import Language
from stilalarm.inventory.model import Site
from stilalarm.wire.messages import NotifyReason
from tests.unit.test_delivery_support import AT, note


def test_level_one_in_dutch_names_room_floor_team_level_and_local_time(site: Site) -> None:
    r = render(site, note("an", level=1), site.person("an"))
    assert r.subject == "ALARM Spreekkamer 1 (Sociale dienst) — niveau 1"
    assert "Agressie-alarm in Spreekkamer 1 (1e verdieping)." in r.body
    assert "Team: Sociale dienst" in r.body
    assert "Niveau: 1" in r.body
    assert "Tijd: 10:42:05 (03-03-2025)" in r.body  # UTC 09:42 shown in Europe/Brussels
    assert "Bel 101" not in r.body and "BEL 101" not in r.subject
    assert "Incident: inc-20250303-001" in r.body
    assert "Gemeentehuis Heusden-Zolder" in r.body


def test_last_level_says_call_101_and_evacuate(site: Site) -> None:
    n = note(
        "dirk", reason=NotifyReason.ESCALATION, level=3, room="balie-1", call_101=True, evacuate="Wachtzaal"
    )
    r = render(site, n, site.person("dirk"))
    assert r.subject == "ALARM Balie 1 (Burgerzaken) — niveau 3 — BEL 101"
    assert "Bel 101." in r.body and "Bel 101." in r.short
    assert "Evacueer de wachtzaal (Wachtzaal)." in r.body
    assert "Nog niemand heeft bevestigd." in r.body
    assert "(gelijkvloers)" in r.body


def test_repeat_is_marked(site: Site) -> None:
    n = note("dirk", reason=NotifyReason.REPEAT, level=3, call_101=True)
    r = render(site, n, site.person("dirk"))
    assert r.subject.startswith("HERHALING ALARM Spreekkamer 1")
    assert "HERHALING: nog steeds niet bevestigd." in r.body


def test_english_for_a_person_whose_language_is_en(site: Site) -> None:
    assert site.language_of("fien") is Language.EN
    n = note("fien", reason=NotifyReason.ESCALATION, level=3, call_101=True, evacuate="wachtzaal")
    r = render(site, n, site.person("fien"))
    assert r.subject == "ALARM Interview room 1 (Sociale dienst) — level 3 — CALL 101"
    assert "Aggression alarm in Interview room 1" in r.body
    assert "Call 101 (police)." in r.body
    assert "Evacuate the waiting room (Waiting room)." in r.body  # a room id is shown by its label
    assert "Time: 10:42:05" in r.body


def test_other_notices_keep_the_console_text_and_add_place_and_time(site: Site) -> None:
    n = note(
        "dirk",
        reason=NotifyReason.ACKNOWLEDGED,
        level=0,
        title="An Peeters komt — Spreekkamer 1",
        body="An Peeters heeft het alarm bevestigd.",
        at=AT + timedelta(minutes=1),
    )
    r = render(site, n, site.person("dirk"))
    assert r.subject == "An Peeters komt — Spreekkamer 1"
    assert r.body.startswith("An Peeters heeft het alarm bevestigd.\nPlaats: Spreekkamer 1 (1e verdieping)")
    assert "Tijd: 10:43:05" in r.body


def test_unknown_room_does_not_break_rendering(site: Site) -> None:
    r = render(site, note("an", room="verdwenen-kamer"), site.person("an"))
    assert "verdwenen-kamer" in r.subject


def test_fault_and_recovery_texts(site: Site) -> None:
    assert (
        channel_fault_text(site, "email", AT, "connection refused", Language.NL)
        == "E-mail (SMTP) onbereikbaar sinds 10:42:05: connection refused"
    )
    assert channel_recovered_text(site, "pager", AT, Language.EN) == "Pager works again since 10:42:05."


def test_email_message_headers(site: Site) -> None:
    n = note("an", level=3, call_101=True)
    person = site.person("an").model_copy(update={"email": "an@example.org"})
    msg = build_message(site, "stilalarm@example.org", n, person)
    assert msg["To"] == "an@example.org"
    assert msg["X-Priority"] == "1"
    assert msg["Message-ID"] == f"<{n.notification_id}@stilalarm.hz-gemeentehuis>"
    assert "BEL 101" in str(msg["Subject"])
