"""NodeWarmer's log (wire/warm.py): a node that stops answering is logged once, with what to do,
and once more when it answers again; answers alone are not logged."""

from __future__ import annotations

import logging

import pytest

from stilalarm.wire.credentials import BrokerAddress, BrokerCredentials
from stilalarm.wire.warm import NodeWarmer

A = BrokerAddress(host="10.0.0.1", port=1883)
B = BrokerAddress(host="10.0.0.2", port=1883)


def warmer() -> NodeWarmer:
    creds = BrokerCredentials(
        site_id="s", username="console", password="p" * 16, host=A.host, port=A.port, addresses=(A, B)
    )
    return NodeWarmer(creds, every_s=30)


def test_a_dead_node_is_logged_once_and_its_return_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="stilalarm.wire.warm")
    w = warmer()
    w.note(A, "Success")
    w.note(B, "Success")
    assert caplog.records == []  # answering nodes are not logged
    for _ in range(3):
        w.note(B, "no CONNACK within 5 s")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert (
        "10.0.0.2:1883" in warnings[0].getMessage() and "check nats-server there" in warnings[0].getMessage()
    )
    w.note(B, "Success")
    w.note(B, "Success")
    infos = [r for r in caplog.records if r.levelno == logging.INFO]
    assert [r.getMessage() for r in infos] == ["broker node 10.0.0.2:1883 accepts connects again"]
    assert w.answers == {A: "Success", B: "Success"}


def test_a_node_dead_from_the_start_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="stilalarm.wire.warm")
    w = warmer()
    w.note(A, "no connection ([Errno 111] Connection refused)")
    assert "did not accept a connect of console" in caplog.text and "Connection refused" in caplog.text


def test_a_dead_nodes_changing_answer_is_not_a_second_warning(caplog: pytest.LogCaptureFixture) -> None:
    """Killed mid-connect, a node first gives no CONNACK, then refuses the connection: one death,
    one warning (before, the second answer was warned again)."""
    caplog.set_level(logging.INFO, logger="stilalarm.wire.warm")
    refused = "no connection ([Errno 111] Connection refused)"
    w = warmer()
    for answer in ("Success", "no CONNACK within 5 s", refused, refused):
        w.note(B, answer)
    assert caplog.text.count("check nats-server there") == 1
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert infos == [f"broker node 10.0.0.2:1883 still does not accept a connect: {refused}"]
