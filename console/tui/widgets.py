"""Small widgets shared by the panes: top line, red status bar, alarm banner, notice line, tables."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual.widgets import DataTable, Static

from stilalarm.console.tui.model.alarms import Banner
from stilalarm.console.tui.model.status import Bar
from stilalarm.console.tui.texts import Texts

VIEWS = ("alarms", "units", "history", "presence", "registrations")


class Plain(Static):
    """A Static that remembers the plain text it shows (for tests and screen readers)."""

    plain: str = ""

    def show(self, content: RenderableType, plain: str) -> None:
        self.plain = plain
        self.update(content)


class TopLine(Plain):
    """Who I am, the time, and the screens (F1–F5) with the current one marked."""

    def show_line(
        self, who: str, clock: str, view: str, open_count: int, t: Texts, todo_count: int = 0
    ) -> None:
        names = {
            "alarms": t.nav_alarms,
            "units": t.nav_units,
            "history": t.nav_history,
            "presence": t.nav_presence,
            "registrations": t.nav_registrations,
        }
        counts = {"alarms": open_count, "registrations": todo_count}
        left = f" {who} · {clock}"

        def nav_line(bare: set[str]) -> Text:
            """Every screen with its key, the names left out of those in `bare`."""
            nav = Text()
            for i, v in enumerate(VIEWS):
                nav.append(f" F{i + 1}", "bold")
                if v in bare:
                    continue
                label = names[v] + (f" ({counts[v]})" if counts.get(v) else "")
                nav.append(" ")
                nav.append(label, "bold reverse" if v == view else "")
            return nav

        # too narrow (80 columns): the names of the quiet screens go first, from the last one, so
        # the clock, the current screen and the counts stay visible
        bare: set[str] = set()
        nav = nav_line(bare)
        for v in reversed(VIEWS):
            if len(left) + 1 + len(nav.plain) <= (self.size.width or 80):
                break
            if v != view and not counts.get(v):
                bare.add(v)
                nav = nav_line(bare)
        grid = Table.grid(expand=True)
        grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        grid.add_column(no_wrap=True, justify="right")
        grid.add_row(Text(left, "bold"), nav)
        self.show(grid, left + " " + nav.plain)


class StatusBar(Plain):
    """Red with a text when the console may show stale data; quiet otherwise."""

    def show_bar(self, bar: Bar) -> None:
        self.set_class(bar.alarm, "alarm")
        self.set_class(not bar.alarm, "ok")
        prefix = "■ " if bar.alarm else ""
        self.show(Text(prefix + bar.text), prefix + bar.text)


class AlarmBanner(Plain):
    """The full-width takeover for an alarm routed to me (hidden when there is none)."""

    banner: Banner | None = None

    def show_banner(self, banner: Banner | None) -> None:
        self.banner = banner
        self.set_class(banner is not None, "on")
        self.set_class(banner is not None and banner.call_101 is not None, "level3")
        if banner is None:
            self.show("", "")
            return
        text = Text()
        text.append(f"#{banner.number}  {banner.headline}\n", "bold")
        text.append(banner.detail + "\n")
        if banner.call_101 is not None:
            text.append(f"  {banner.call_101}  ", "bold black on yellow")
            if banner.evacuate is not None:
                text.append("   ")
                text.append(f"  {banner.evacuate.upper()}  ", "bold black on yellow")
            text.append("\n")
        elif banner.evacuate is not None:
            text.append(f"  {banner.evacuate.upper()}  \n", "bold black on yellow")
        text.append(banner.instruction, "bold reverse" if banner.must_pick else "bold")
        lines = [f"#{banner.number} {banner.headline}", banner.detail]
        lines += [x for x in (banner.call_101, banner.evacuate) if x]
        self.show(text, "\n".join([*lines, banner.instruction]))


class Notice(Plain):
    """One line: the answer to my last command, a refusal, a hint (hidden when empty)."""

    def on_mount(self) -> None:
        self.display = bool(self.plain)

    def say(self, message: str, kind: str = "info") -> None:
        for k in ("info", "warn", "error"):
            self.set_class(k == kind, k)
        self.display = bool(message)
        self.show(Text(message), message)


def sync_table(
    table: DataTable[RenderableType],
    keys: Sequence[str],
    rows: Sequence[Sequence[RenderableType]],
    height: int = 1,
) -> None:
    """Show `rows` keyed by `keys`, updating cells in place when the keys did not change."""
    current = [str(rk.value) for rk in table.rows]
    columns = list(table.columns)
    if current == list(keys):
        for key, row in zip(keys, rows, strict=True):
            for col, cell in zip(columns, row, strict=True):
                if table.get_cell(key, col) != cell:
                    table.update_cell(key, col, cell)
        return
    keep = current[table.cursor_row] if 0 <= table.cursor_row < len(current) else None
    table.clear()
    for key, row in zip(keys, rows, strict=True):
        table.add_row(*row, key=key, height=height)
    if keep is not None and keep in keys:
        table.move_cursor(row=list(keys).index(keep), animate=False)
