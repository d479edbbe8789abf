"""The broker nodes' watch (console/core/nodes.py): pure, with its own monotonic time."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stilalarm.console.core.nodes import Answer, NodeBack, Nodes, NodeSilent, Policy, step

P = Policy(silent_after_s=60)


def run(answers: list[tuple[str, bool, float]]) -> list[object]:
    s, out = Nodes(), []
    for node, ok, at in answers:
        s, effects = step(s, Answer(node, ok, "Success" if ok else "no CONNACK within 5 s", at), P)
        out += effects
    return out


def test_a_node_silent_for_the_bound_is_told_once_with_the_others_answering() -> None:
    out = run(
        [("n1", True, 0), ("n2", True, 0), ("n3", True, 0)]
        + [("n3", False, t) for t in (30, 60, 89)]  # 59 s since the first failure: not yet
        + [("n3", False, 90), ("n3", False, 120)]
    )
    assert out == [NodeSilent("n3", 60, "no CONNACK within 5 s", ("n1", "n2"))]


def test_a_restart_within_the_bound_is_not_told() -> None:
    assert (
        run([("n2", True, 0), ("n2", False, 30), ("n2", False, 60), ("n2", True, 89), ("n2", False, 95)])
        == []
    )


def test_back_after_told_and_silent_again_is_told_again() -> None:
    out = run([("n2", False, 0), ("n2", False, 60), ("n2", True, 70), ("n2", False, 80), ("n2", False, 140)])
    assert out == [
        NodeSilent("n2", 60, "no CONNACK within 5 s", ()),
        NodeBack("n2"),
        NodeSilent("n2", 60, "no CONNACK within 5 s", ()),
    ]


@given(st.lists(st.tuples(st.sampled_from(["n1", "n2", "n3"]), st.booleans(), st.floats(0, 50)), max_size=60))
def test_per_node_the_notices_alternate_starting_with_silent(steps: list[tuple[str, bool, float]]) -> None:
    t, answers = 0.0, []
    for node, ok, dt in steps:  # time only moves forward
        t += dt
        answers.append((node, ok, t))
    out = run(answers)
    for node in ("n1", "n2", "n3"):
        kinds = [type(e) for e in out if getattr(e, "node", None) == node]
        assert kinds == [NodeSilent, NodeBack] * (len(kinds) // 2) + [NodeSilent] * (len(kinds) % 2)
