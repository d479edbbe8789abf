"""The console's keys: which key runs which action, and in which views an action is allowed."""

from __future__ import annotations

from textual.app import App

from stilalarm.console.tui.texts import Texts

VIEW_ACTIONS = {
    "ack": {"alarms"},
    "decline": {"alarms"},
    "on_site": {"alarms"},
    "pick": {"alarms"},
    "move": {"alarms"},
    "resolve": {"alarms"},
    "visit": {"alarms"},
    "risk_confirm": {"alarms"},
    "demo": {"alarms", "units"},
    "test_start": {"units"},
    "test_stop": {"units"},
    "present": {"presence"},
    "absent": {"presence"},
    "filter": {"history"},
    "save": {"resolve", "complete"},
    "go_back": {"resolve", "history", "complete"},
    "complete": {"registrations"},
}


def bind_keys(app: App[int], t: Texts) -> None:
    """Bind every key of the console, with its description in the person's language."""
    app.bind("k", "ack", description=t.key_ack)
    app.bind("enter", "ack", description=t.key_ack, show=False)
    app.bind("1", "pick(1)", description=t.key_pick, key_display="1-9")
    for n in range(2, 10):
        app.bind(str(n), f"pick({n})", show=False)
    app.bind("up", "move(-1)", description=t.key_up, show=False)
    app.bind("down", "move(1)", description=t.key_down, show=False)
    app.bind("n", "decline", description=t.key_decline)
    app.bind("d", "on_site", description=t.key_on_site)
    app.bind("r", "resolve", description=t.key_resolve)
    app.bind("b", "visit(True)", description=t.key_reached)
    app.bind("g", "visit(False)", description=t.key_no_answer)
    app.bind("v", "risk_confirm", description=t.key_risk_confirm)
    app.bind("t", "test_start", description=t.key_test_start)
    app.bind("s", "test_stop", description=t.key_test_stop)
    app.bind("i", "present", description=t.key_present)
    app.bind("o", "absent", description=t.key_absent)
    app.bind("slash", "filter", description=t.key_filter, key_display="/")
    app.bind("ctrl+s", "save", description=t.key_save)
    app.bind("escape", "go_back", description=t.key_back)
    app.bind("c", "complete", description=t.key_complete)
    app.bind("p", "demo", description=t.key_demo)
    for keys, view in (
        ("f1,a", "alarms"),
        ("f2,u", "units"),
        ("f3,h", "history"),
        ("f4,w", "presence"),
        ("f5,m", "registrations"),
    ):
        app.bind(keys, f"view('{view}')", show=False)
