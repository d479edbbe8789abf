"""The Meldingen view: the registrations I still have to complete, and the form of the lead's part
(widgets only; the words come from `model.registrations`)."""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, DataTable, Input, Label, RadioButton, RadioSet, Static

from stilalarm.console.tui.model.registrations import RegList
from stilalarm.console.tui.panes import Pick, Tick
from stilalarm.console.tui.texts import Texts
from stilalarm.console.tui.widgets import Plain, sync_table
from stilalarm.wire.messages import Aftercare, Sanction, Severity
from stilalarm.wire.messages.registration import HOW_MAX


class RegistrationsPane(Vertical):
    """The registrations of my teams that lack the lead's part, oldest first; Enter or c opens one."""

    def __init__(self, texts: Texts, **kw: Any) -> None:
        super().__init__(**kw)
        self.texts = texts
        self.ids: list[str] = []

    def compose(self) -> ComposeResult:
        t = self.texts
        yield Plain(t.reg_empty, id="reg-summary")
        table: DataTable[RenderableType] = DataTable(id="reg-table", cursor_type="row", zebra_stripes=True)
        for label in (t.reg_col_when, t.reg_col_place, t.reg_col_victim, t.reg_col_forms, t.reg_col_what):
            table.add_column(label)
        yield table
        yield Plain("", id="reg-more")

    def show_list(self, view: RegList) -> None:
        t = self.texts
        summary = t.reg_count.format(n=len(view.rows) + view.more) if view.rows else t.reg_empty
        self.query_one("#reg-summary", Plain).show(Text.assemble((summary, "bold")), summary)
        more = t.reg_more.format(n=view.more) if view.more else ""
        self.query_one("#reg-more", Plain).show(Text.assemble((more, "bold yellow")), more)
        self.ids = [r.registration_id for r in view.rows]
        cells: list[list[RenderableType]] = []
        for r in view.rows:
            forms = Text(r.forms_text)
            if r.weapon:
                forms.append(" · " + t.special.get("weapon", "weapon"), "bold white on red3")
            cells.append([r.when_text, r.place_text, r.victim, forms, r.what_short])
        sync_table(self.query_one("#reg-table", DataTable), self.ids, cells)

    def highlighted(self) -> str | None:
        table = self.query_one("#reg-table", DataTable)
        keys = [str(rk.value) for rk in table.rows]
        return keys[table.cursor_row] if 0 <= table.cursor_row < len(keys) else None


class CompletePane(VerticalScroll):
    """The lead's part of one registration: the victim's part to read, then severity, police and
    PV number, sanctions, occupational accident, after-care offered and a note. Validated by
    `RegistrationCompleteCmd`, the model the CLI sends."""

    def __init__(self, texts: Texts, **kw: Any) -> None:
        super().__init__(**kw)
        self.texts = texts
        self.registration_id: str | None = None

    def compose(self) -> ComposeResult:
        t = self.texts
        yield Plain(t.reg_none, id="c-title")
        yield Plain("", id="c-victim")
        yield Static(t.reg_hint, id="c-hint")
        yield Plain("", id="c-error")
        yield Label(t.f_severity, classes="field")
        with RadioSet(id="c-severity", compact=True):
            for s in Severity:
                yield Pick(t.severity[s.value], id=f"c-sev-{s.value}", compact=True)
        with Horizontal(classes="row"):
            yield Tick(t.f_police, id="c-police", compact=True)
            yield Input(placeholder=t.f_pv, id="c-pv", max_length=60, compact=True)
        yield Label(t.f_sanctions, classes="field")
        with Grid(classes="ticks"):
            for sanction in Sanction:
                yield Tick(t.sanctions[sanction.value], id=f"c-sanction-{sanction.value}", compact=True)
        yield Label(t.f_aftercare, classes="field")
        with Grid(classes="ticks"):
            for care in Aftercare:
                yield Tick(t.aftercare[care.value], id=f"c-care-{care.value}", compact=True)
        yield Tick(t.f_accident, id="c-accident", compact=True)
        yield Input(placeholder=t.reg_note, id="c-note", max_length=2 * HOW_MAX, compact=True)
        with Horizontal(classes="row buttons"):
            yield Button(f"{t.resolve_save} (Ctrl+S)", id="c-save", variant="primary", compact=True)
            yield Button(f"{t.resolve_cancel} (Esc)", id="c-cancel", compact=True)

    def load(self, registration_id: str, title: str, victim: list[tuple[str, str]], weapon: bool) -> None:
        """Open the form for a registration; another registration starts from an empty form."""
        if registration_id != self.registration_id:
            self.reset()
        self.registration_id = registration_id
        self.query_one("#c-title", Plain).show(Text.assemble((title, "bold underline")), title)
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True, style="bold")
        grid.add_column()
        for label, text in victim:
            grid.add_row(label, text)
        plain = "\n".join(f"{label}: {text}" for label, text in victim)
        if weapon:
            grid.add_row("", Text(self.texts.reg_weapon_rule, "bold white on red3"))
            plain += "\n" + self.texts.reg_weapon_rule
        self.query_one("#c-victim", Plain).show(grid, plain)

    def reset(self) -> None:
        for cb in self.query(Checkbox):
            cb.value = False
        for rb in self.query(RadioButton):
            rb.value = False
        for inp in self.query(Input):
            inp.value = ""
        self.show_error("")

    def show_error(self, message: str) -> None:
        err = self.query_one("#c-error", Plain)
        err.show(Text.assemble((message, "bold red")), message)
        err.display = bool(message)

    def values(self) -> dict[str, object]:
        """The form as `RegistrationCompleteCmd` fields (not yet validated)."""

        def checked(ident: str) -> bool:
            return self.query_one(f"#{ident}", Checkbox).value

        pressed = self.query_one("#c-severity", RadioSet).pressed_button
        pv = self.query_one("#c-pv", Input).value.strip()
        out: dict[str, object] = {
            "police_called": checked("c-police"),
            "pv_number": pv or None,
            "sanctions": tuple(s.value for s in Sanction if checked(f"c-sanction-{s.value}")),
            "aftercare": tuple(a.value for a in Aftercare if checked(f"c-care-{a.value}")),
            "occupational_accident": checked("c-accident"),
            "note": self.query_one("#c-note", Input).value.strip(),
        }
        if pressed is not None and pressed.id:
            out["severity"] = pressed.id.removeprefix("c-sev-")
        return out
