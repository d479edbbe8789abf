"""Five panes of the console: Alarms, Resolve, Units, History, Presence (widgets only, no logic);
the Meldingen list and form are in `regpanes`."""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import (
    Button,
    Checkbox,
    DataTable,
    Input,
    Label,
    RadioButton,
    RadioSet,
    Static,
)

from stilalarm.console.tui.model.alarms import AlarmRow, AlarmsView
from stilalarm.console.tui.model.context import Ctx
from stilalarm.console.tui.model.history import HistoryRow, TimelineLine
from stilalarm.console.tui.model.presence import PresenceView
from stilalarm.console.tui.model.risks import RiskRow
from stilalarm.console.tui.model.units import UnitRow, firmware_versions, units_summary, versions_summary
from stilalarm.console.tui.texts import Texts
from stilalarm.console.tui.widgets import Plain, sync_table
from stilalarm.wire.messages import Aftercare, AggressionType, IncidentStatus, Sanction, Severity

OPEN_STYLE = "bold white on red3"


class Tick(Checkbox):
    """A checkbox whose state is a mark, not only a colour (X when ticked, blank when not)."""

    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = "X" if self.value else " "
        return super()._button


class Pick(RadioButton):
    """A radio button whose state is a mark, not only a colour."""

    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = "●" if self.value else " "
        return super()._button


ACK_STYLE = "bold black on green3"


class AlarmsPane(Vertical):
    """Every unresolved incident, most urgent first; the selected row is marked ▶ (keys act on it)."""

    def __init__(self, texts: Texts, **kw: Any) -> None:
        super().__init__(**kw)
        self.texts = texts
        self._widths: tuple[int, ...] = ()

    def compose(self) -> ComposeResult:
        yield Plain(self.texts.no_alarms, id="alarm-empty")
        table: DataTable[RenderableType] = DataTable(id="alarm-table", cursor_type="row", zebra_stripes=True)
        table.can_focus = False  # keyboard selection is the app's (explicit picks), not the table's
        yield table
        yield Plain("", id="alarm-risks")

    def show_risks(self, rows: tuple[RiskRow, ...]) -> None:
        """The running risky conversations, one line each (nothing when there are none)."""
        out = Text()
        for r in rows:
            out.append("◆ " + r.text + "\n", "bold yellow" if r.to_confirm else "")
        plain = self.query_one("#alarm-risks", Plain)
        plain.display = bool(rows)
        plain.show(out, "\n".join(r.text for r in rows))

    def _columns(self, table: DataTable[RenderableType]) -> None:
        width = (self.size.width or 80) - 2
        rest = width - 10 - 3 - 11 - 8
        loc = int(min(rest - 16, max(30, rest * 0.55)))
        widths = (3, 11, loc, 8, max(10, rest - loc))
        if widths == self._widths:
            return
        self._widths = widths
        table.clear(columns=True)
        t = self.texts
        for label, w in zip(
            (t.col_num, t.col_status, t.col_location, t.col_since, t.col_level), widths, strict=True
        ):
            table.add_column(label, width=w)

    def show_alarms(self, view: AlarmsView, ctx: Ctx) -> None:
        table = self.query_one("#alarm-table", DataTable)
        self._columns(table)
        self.query_one("#alarm-empty", Plain).display = not view.rows
        rows = [self._cells(r, r.incident_id == view.selection.incident_id, ctx) for r in view.rows]
        sync_table(table, [r.incident_id for r in view.rows], rows, height=2)
        ids = [r.incident_id for r in view.rows]
        if view.selection.incident_id in ids:
            table.move_cursor(row=ids.index(view.selection.incident_id), animate=False)

    def on_resize(self) -> None:
        self._widths = ()  # recomputed by the next refresh (once a second at most)

    def _cells(self, r: AlarmRow, selected: bool, ctx: Ctx) -> list[RenderableType]:
        t = self.texts
        is_open = r.status is IncidentStatus.OPEN
        num = Text.assemble((("▶" if selected else " ") + str(r.number), "bold"))
        mark = t.for_me if is_open and r.for_me else (ctx.short_name(r.ack_by) if r.ack_by else "")
        status = Text.assemble(
            (f" {r.status_text} ", OPEN_STYLE if is_open else ACK_STYLE), "\n", (mark, "bold")
        )
        loc = Text.assemble((r.location, "bold"), "\n", (r.detail, "dim"))
        since = Text.assemble((r.elapsed_text, "bold"), "\n", (ctx.time(r.pressed_at), "dim"))
        level = Text.assemble((t.level_short.format(n=r.level), "bold"))
        if r.call_101:
            level.append(" · " + t.banner_101, "bold red")
        if r.nobody_reachable:
            level.append(" · " + t.nobody_reachable, "bold white on red3")
        who = t.coming.format(name=ctx.short_name(r.ack_by)) if r.ack_by else r.notified_short
        if r.ack_by and r.on_site:
            who = t.on_site.format(name=ctx.short_name(r.ack_by))
        if r.declined_short and not r.ack_by:
            who += " · " + t.declined.format(names=r.declined_short)
        level.append("\n" + who)
        return [num, status, loc, since, level]


class ResolvePane(VerticalScroll):
    """The registration form ('Melding agressie'); validated by stilalarm.wire.messages.Registration."""

    def __init__(self, texts: Texts, **kw: Any) -> None:
        super().__init__(**kw)
        self.texts = texts
        self.incident_id: str | None = None

    def compose(self) -> ComposeResult:
        t = self.texts
        yield Plain(t.resolve_none, id="resolve-title")
        yield Static(t.resolve_hint, id="resolve-hint")
        yield Plain("", id="resolve-error")
        yield Tick(t.f_false_alarm, id="r-false", compact=True)
        yield Label(t.f_types, classes="field")
        with Horizontal(classes="row"):
            for a in AggressionType:
                yield Tick(t.aggression[a.value], id=f"r-type-{a.value}", compact=True)
        yield Label(t.f_severity, classes="field")
        with RadioSet(id="r-severity", compact=True):
            for s in Severity:
                yield Pick(t.severity[s.value], id=f"r-sev-{s.value}", compact=True)
        yield Tick(t.f_weapon, id="r-weapon", compact=True)
        with Horizontal(classes="row"):
            yield Tick(t.f_police, id="r-police", compact=True)
            yield Input(placeholder=t.f_pv, id="r-pv", max_length=60, compact=True)
        yield Label(t.f_sanctions, classes="field")
        with Grid(classes="ticks"):
            for sanction in Sanction:
                yield Tick(t.sanctions[sanction.value], id=f"r-sanction-{sanction.value}", compact=True)
        yield Label(t.f_aftercare, classes="field")
        with Grid(classes="ticks"):
            for care in Aftercare:
                yield Tick(t.aftercare[care.value], id=f"r-care-{care.value}", compact=True)
        yield Tick(t.f_accident, id="r-accident", compact=True)
        yield Input(placeholder=t.f_staff, id="r-staff", max_length=120, compact=True)
        yield Input(placeholder=t.f_note, id="r-note", max_length=4000, compact=True)
        with Horizontal(classes="row buttons"):
            yield Button(f"{t.resolve_save} (Ctrl+S)", id="r-save", variant="primary", compact=True)
            yield Button(f"{t.resolve_cancel} (Esc)", id="r-cancel", compact=True)

    def load(self, incident_id: str, title: str) -> None:
        """Open the form for an incident; a different incident starts from an empty form."""
        if incident_id != self.incident_id:
            self.reset()
        self.incident_id = incident_id
        self.query_one("#resolve-title", Plain).show(Text.assemble((title, "bold")), title)

    def reset(self) -> None:
        for cb in self.query(Checkbox):
            cb.value = False
        for rb in self.query(RadioButton):
            rb.value = False
        for inp in self.query(Input):
            inp.value = ""
        self.show_error("")

    def show_error(self, message: str) -> None:
        self.query_one("#resolve-error", Plain).show(Text.assemble((message, "bold")), message)
        self.query_one("#resolve-error", Plain).display = bool(message)

    def values(self) -> dict[str, object]:
        """The form as Registration fields (not yet validated)."""

        def checked(ident: str) -> bool:
            return self.query_one(f"#{ident}", Checkbox).value

        def text(ident: str) -> str:
            return self.query_one(f"#{ident}", Input).value.strip()

        pressed = self.query_one("#r-severity", RadioSet).pressed_button
        return {
            "false_alarm": checked("r-false"),
            "aggression_types": tuple(a.value for a in AggressionType if checked(f"r-type-{a.value}")),
            "severity": pressed.id.removeprefix("r-sev-") if pressed is not None and pressed.id else None,
            "weapon": checked("r-weapon"),
            "police_called": checked("r-police"),
            "pv_number": text("r-pv") or None,
            "sanctions": tuple(s.value for s in Sanction if checked(f"r-sanction-{s.value}")),
            "aftercare": tuple(a.value for a in Aftercare if checked(f"r-care-{a.value}")),
            "occupational_accident": checked("r-accident"),
            "staff_member": text("r-staff") or None,
            "note": text("r-note"),
        }


class UnitsPane(Vertical):
    """Every unit with its health, test mode and weekly test (for facilities)."""

    def __init__(self, texts: Texts, **kw: Any) -> None:
        super().__init__(**kw)
        self.texts = texts

    def compose(self) -> ComposeResult:
        yield Plain("", id="units-summary")
        table: DataTable[RenderableType] = DataTable(id="unit-table", cursor_type="row", zebra_stripes=True)
        t = self.texts
        for label in (
            t.u_unit,
            t.u_room,
            t.u_state,
            t.u_heartbeat,
            t.u_faults,
            t.u_firmware,
            t.u_config,
            t.u_test,
            t.u_last_test,
        ):
            table.add_column(label)
        yield table

    def show_units(self, rows: tuple[UnitRow, ...]) -> None:
        summary = units_summary(rows, self.texts)
        versions = versions_summary(rows, self.texts)
        text = Text.assemble((summary, "bold"), *((("\n" + versions, "bold yellow"),) if versions else ()))
        self.query_one("#units-summary", Plain).show(text, f"{summary}\n{versions}" if versions else summary)
        fw = firmware_versions(rows)
        common = max(fw, key=lambda v: (fw[v], v)) if len(fw) > 1 else ""  # others are marked
        sync_table(
            self.query_one("#unit-table", DataTable),
            [r.unit_id for r in rows],
            [self._cells(r, common) for r in rows],
        )

    def selected_unit(self, rows: tuple[UnitRow, ...]) -> UnitRow | None:
        table = self.query_one("#unit-table", DataTable)
        return rows[table.cursor_row] if 0 <= table.cursor_row < len(rows) else None

    @staticmethod
    def _cells(r: UnitRow, common: str = "") -> list[RenderableType]:
        if r.online is None:
            state = Text(r.state_text, "bold yellow")
        elif r.online:
            state = Text("● " + r.state_text, "bold green")
        else:
            state = Text("✖ " + r.state_text, "bold white on red3")
        faults = Text(r.faults_text, "bold red" if r.faults_text != "—" else "")
        test = Text(r.test_text, "bold black on yellow" if r.test_mode else "")
        last = Text(r.last_test_text, "bold yellow" if r.overdue else "")
        firmware = Text(r.firmware, "bold yellow" if common and r.firmware not in (common, "—") else "")
        config = Text(r.config_text, "bold black on yellow" if r.config_stale else "")
        return [
            Text(r.unit_text),
            Text(r.room_text),
            state,
            r.heartbeat_text,
            faults,
            firmware,
            config,
            test,
            last,
        ]


class HistoryPane(Vertical):
    """Incidents of the last days with a filter, and the highlighted one's timeline."""

    def __init__(self, texts: Texts, **kw: Any) -> None:
        super().__init__(**kw)
        self.texts = texts

    def compose(self) -> ComposeResult:
        t = self.texts
        yield Input(placeholder=t.h_filter, id="history-filter", compact=True)
        table: DataTable[RenderableType] = DataTable(
            id="history-table", cursor_type="row", zebra_stripes=True
        )
        for label in (t.h_pressed, t.h_location, t.h_team, t.h_status, t.h_level, t.h_ack, t.h_resolved):
            table.add_column(label)
        yield table
        with VerticalScroll(id="timeline-box"):
            yield Plain("", id="timeline")

    def show_history(self, rows: tuple[HistoryRow, ...], days: int) -> None:
        cells: list[list[RenderableType]] = []
        for r in rows:
            style = {"open": "bold white on red3", "acknowledged": "bold black on green3"}.get(
                r.status.value, ""
            )
            cells.append(
                [
                    r.pressed_text,
                    r.location,
                    r.team,
                    Text(r.status_text, style),
                    str(r.level),
                    r.ack_text,
                    r.resolved_text,
                ]
            )
        sync_table(self.query_one("#history-table", DataTable), [r.incident_id for r in rows], cells)
        if not rows:
            self.show_timeline(self.texts.h_empty.format(days=days), ())

    def highlighted(self) -> str | None:
        table = self.query_one("#history-table", DataTable)
        keys = [str(rk.value) for rk in table.rows]
        return keys[table.cursor_row] if 0 <= table.cursor_row < len(keys) else None

    def show_timeline(self, title: str, lines: tuple[TimelineLine, ...], empty: str = "") -> None:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True, style="dim")
        grid.add_column(style="bold")
        grid.add_column()
        for ln in lines:
            grid.add_row(ln.at_text, ln.what, " · ".join(x for x in (ln.who, ln.text) if x))
        plain = "\n".join([title, *(f"{ln.at_text} {ln.what} {ln.who} {ln.text}" for ln in lines)])
        body: list[RenderableType] = [
            Text.assemble((title, "bold underline")),
            grid if lines else Text.assemble((empty, "italic")),
        ]
        from rich.console import Group

        self.query_one("#timeline", Plain).show(Group(*body), plain + ("\n" + empty if not lines else ""))


class PresencePane(VerticalScroll):
    """Me present/absent; who is reachable per team, with a warning where nobody is."""

    def __init__(self, texts: Texts, **kw: Any) -> None:
        super().__init__(**kw)
        self.texts = texts

    def compose(self) -> ComposeResult:
        yield Plain("", id="presence-me")
        yield Plain("", id="presence-teams")

    def show_presence(self, pv: PresenceView) -> None:
        t = self.texts
        me = self.query_one("#presence-me", Plain)
        style = "bold black on green3" if pv.me_present else "bold white on red3"
        me.show(Text.assemble((f" {pv.me_text} ", style)), pv.me_text)
        out = Text()
        plain = []
        for tp in pv.teams:
            out.append(tp.name, "bold underline")
            out.append("  ")
            out.append(f" {tp.text} ", "bold white on red3" if tp.warning else "bold green")
            out.append("\n")
            for m in tp.members:
                out.append(f"   {m.name} ({m.role_text}): ")
                out.append(t.p_present if m.present else t.p_absent, "green" if m.present else "bold red")
                out.append("\n")
            out.append("\n")
            plain.append(f"{tp.name}: {tp.text}")
        self.query_one("#presence-teams", Plain).show(out, "\n".join(plain))
