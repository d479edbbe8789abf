"""Small modal dialogs: start a test (unit / room / site), and the demo's simulated press."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from stilalarm.console.tui.texts import Texts
from stilalarm.wire.messages import TEST_WINDOW_MAX_MIN, TestScope


@dataclass(frozen=True)
class TestRequest:
    """What to put in test mode, for how long."""

    scope: TestScope
    target: str | None
    minutes: float


class TestDialog(ModalScreen[TestRequest | None]):
    """Open a test window for this unit or its room (never the whole site), a few minutes long."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", show=False)]

    def __init__(self, texts: Texts, unit_id: str, room_id: str, room_label: str, minutes: float) -> None:
        super().__init__()
        self.texts = texts
        self.unit_id = unit_id
        self.room_id = room_id
        self.room_label = room_label
        self.minutes = minutes

    def compose(self) -> ComposeResult:
        t = self.texts
        with Vertical(classes="dialog"):
            yield Label(t.test_title, classes="dialog-title")
            yield OptionList(
                Option(f"1  {t.test_unit.format(unit=self.unit_id)}", id="unit"),
                Option(f"2  {t.test_room.format(room=self.room_label)}", id="room"),
                id="test-scope",
            )
            yield Label(t.test_minutes)
            yield Input(str(int(self.minutes)), id="test-minutes", type="number", compact=True)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        try:
            value = float(self.query_one("#test-minutes", Input).value)
            minutes = max(1.0, min(float(TEST_WINDOW_MAX_MIN), value))
        except ValueError:
            minutes = self.minutes
        scope = TestScope(event.option.id or "unit")
        target = {TestScope.UNIT: self.unit_id, TestScope.ROOM: self.room_id}.get(scope)
        self.dismiss(TestRequest(scope, target, minutes))


class DemoDialog(ModalScreen[str | None]):
    """Demo only: pick the desk unit whose panic button the simulator should press."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", show=False)]

    def __init__(self, texts: Texts, units: list[tuple[str, str]]) -> None:
        super().__init__()
        self.texts = texts
        self.units = units

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.texts.demo_title, classes="dialog-title")
            yield OptionList(
                *(Option(f"{i + 1}  {label} ({uid})", id=uid) for i, (uid, label) in enumerate(self.units)),
                id="demo-units",
            )

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def on_key(self, event: events.Key) -> None:
        """The numbers shown before each unit pick it directly (1-9)."""
        if event.character and event.character.isdigit() and event.character != "0":
            i = int(event.character) - 1
            if i < len(self.units):
                event.stop()
                self.dismiss(self.units[i][0])
