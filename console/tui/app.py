"""The Textual app: glue between the bus (MQTT), the pure view-model and the panes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from functools import partial

from pydantic import ValidationError
from textual.app import App, ComposeResult
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, ContentSwitcher, DataTable, Footer, Input

from console.tui.bus import Bad, Bus, BusEvent, Cleared, Down, Got, Up
from console.tui.dialogs import DemoDialog, TestDialog, TestRequest
from console.tui.model.alarms import Selection, ack_target, move, pick
from console.tui.model.context import Ctx
from console.tui.model.history import HISTORY_DAYS, build_timeline
from console.tui.model.received import ROUTING_REASONS, Received
from console.tui.model.replies import registration_error, reply_text
from console.tui.model.snapshot import Snapshot, snapshot
from console.tui.panes import AlarmsPane, HistoryPane, PresencePane, ResolvePane, UnitsPane
from console.tui.texts import texts_for
from console.tui.widgets import AlarmBanner, Notice, StatusBar, TopLine
from inventory.model import Site, UnitRole
from wire.credentials import BrokerCredentials
from wire.messages import (
    CommandReply,
    ConsoleStatus,
    IncidentState,
    IncidentTimeline,
    Notification,
    NotifyReason,
    PresenceState,
    Registration,
    UnitHealth,
    utcnow,
)

CSS = """
Screen { layout: vertical; }
#top { height: 1; background: $panel; }
#bar { height: auto; padding: 0 1; }
#bar.alarm { background: #b00000; color: #ffffff; text-style: bold; }
#bar.ok { color: #7fd17f; background: #0a2a0a; }
#banner { display: none; height: auto; padding: 0 1; background: #c00000; color: #ffffff;
          border: heavy #ffff00; text-style: bold; }
#banner.on { display: block; }
#banner.level3 { background: #8b0000; border: double #ffffff; }
#notice { height: auto; max-height: 2; padding: 0 1; }
#notice.warn { background: #ffd000; color: #000000; text-style: bold; }
#notice.error { background: #ff8c00; color: #000000; text-style: bold; }
#notice.info { color: $text-muted; }
ContentSwitcher { height: 1fr; }
#alarm-table { height: 1fr; }
#alarm-table > .datatable--cursor { background: #1f4f9f; color: #ffffff; text-style: bold; }
#alarm-empty { padding: 1 2; color: $text-muted; }
#resolve { padding: 0 1; }
#resolve-title { text-style: bold; }
#resolve-hint { color: $text-muted; }
#resolve-error { display: none; background: #ffd000; color: #000000; padding: 0 1; }
#resolve .field { margin-top: 1; text-style: bold; }
#resolve .row { height: auto; }
#resolve .row Checkbox { margin-right: 2; }
#resolve RadioSet { layout: horizontal; width: auto; }
#resolve RadioButton { margin-right: 2; }
#resolve .ticks { grid-size: 3; grid-rows: 1; height: auto; grid-gutter: 0 2; }
#resolve Input { margin-top: 1; }
#resolve .buttons { margin-top: 1; }
#resolve Button { margin-right: 2; }
#resolve #r-pv { width: 1fr; margin-top: 0; margin-left: 2; }
#units-summary { padding: 0 1; }
#unit-table { height: 1fr; }
#history-table { height: 1fr; }
#timeline-box { height: 2fr; border-top: solid $panel; }
#presence { padding: 0 1; }
#presence-me { margin: 1 0; padding: 0 1; }
.dialog { width: 64; height: auto; border: thick $accent; background: $surface; padding: 1 2; }
.dialog-title { text-style: bold; margin-bottom: 1; }
TestDialog, DemoDialog { align: center middle; }
"""

VIEW_ACTIONS = {
    "ack": {"alarms"},
    "pick": {"alarms"},
    "move": {"alarms"},
    "resolve": {"alarms"},
    "demo": {"alarms", "units"},
    "test_start": {"units"},
    "test_stop": {"units"},
    "present": {"presence"},
    "absent": {"presence"},
    "filter": {"history"},
    "save": {"resolve"},
    "go_back": {"resolve", "history"},
}


class BusMessage(Message):
    """A bus event handed from paho's thread to the app's loop (post_message is thread-safe)."""

    def __init__(self, event: BusEvent) -> None:
        super().__init__()
        self.event = event


class ConsoleApp(App[int]):
    """`alarm-console tui`: alarms, resolve, units, history, presence for one person."""

    CSS = CSS
    ENABLE_COMMAND_PALETTE = False
    TITLE = "stilalarm"

    def __init__(
        self,
        site: Site,
        person_id: str,
        creds: BrokerCredentials | None,
        *,
        lang: str | None = None,
        on_demo_press: Callable[[str], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
        history_days: int = HISTORY_DAYS,
        resync_settle_s: float = 1.5,
    ) -> None:
        """`creds` None runs without a broker (state fed with `apply`, e.g. for screenshots).

        `on_demo_press(unit_id)`: demo only; key `p` picks a desk unit and calls it in a worker thread.
        """
        super().__init__()
        self.texts = texts_for(lang or site.language_of(person_id).value)
        self.ctx = Ctx(site, person_id, self.texts)
        self.creds = creds
        self.on_demo_press = on_demo_press
        self.clock = clock
        self.history_days = history_days
        self.resync_settle_s = resync_settle_s
        self.bus: Bus | None = None
        self.rec = Received()
        self.sel = Selection()
        self.view = "alarms"
        self.history_query = ""
        self.pending: dict[uuid.UUID, tuple[str, str]] = {}
        self.last_campaign: str | None = None
        self.bells = 0
        """How often the bell rang (tests: the terminal bell is silent when headless)."""
        self.snap: Snapshot = snapshot(self.rec, self.ctx, clock(), self.sel)
        self._drawn = False
        self._bind_keys()

    # -- layout and keys ------------------------------------------------------------
    def compose(self) -> ComposeResult:
        t = self.texts
        yield TopLine(id="top")
        yield StatusBar(id="bar")
        yield AlarmBanner(id="banner")
        yield Notice("", id="notice")
        with ContentSwitcher(initial="alarms"):
            yield AlarmsPane(t, id="alarms")
            yield ResolvePane(t, id="resolve")
            yield UnitsPane(t, id="units")
            yield HistoryPane(t, id="history")
            yield PresencePane(t, id="presence")
        yield Footer()

    def _bind_keys(self) -> None:
        t = self.texts
        self.bind("k", "ack", description=t.key_ack)
        self.bind("enter", "ack", description=t.key_ack, show=False)
        self.bind("1", "pick(1)", description=t.key_pick, key_display="1-9")
        for n in range(2, 10):
            self.bind(str(n), f"pick({n})", show=False)
        self.bind("up", "move(-1)", description=t.key_up, show=False)
        self.bind("down", "move(1)", description=t.key_down, show=False)
        self.bind("r", "resolve", description=t.key_resolve)
        self.bind("t", "test_start", description=t.key_test_start)
        self.bind("s", "test_stop", description=t.key_test_stop)
        self.bind("i", "present", description=t.key_present)
        self.bind("o", "absent", description=t.key_absent)
        self.bind("slash", "filter", description=t.key_filter, key_display="/")
        self.bind("ctrl+s", "save", description=t.key_save)
        self.bind("escape", "go_back", description=t.key_back)
        self.bind("p", "demo", description=t.key_demo)
        for keys, view in (("f1,a", "alarms"), ("f2,u", "units"), ("f3,h", "history"), ("f4,w", "presence")):
            self.bind(keys, f"view('{view}')", show=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "demo" and self.on_demo_press is None:
            return False
        views = VIEW_ACTIONS.get(action)
        return views is None or self.view in views

    def on_mount(self) -> None:
        self._drawn = True
        self.set_focus(None)
        self.refresh_view()
        self.set_interval(1.0, self.refresh_view)
        if self.creds is not None:
            self.bus = Bus(self.creds, self.ctx.me, self._post_event)
            self.bus.start()

    def on_unmount(self) -> None:
        if self.bus is not None:
            self.bus.stop()

    # -- incoming -------------------------------------------------------------------
    def _post_event(self, ev: BusEvent) -> None:
        """Called in paho's thread: hand the event to the app's loop."""
        self.post_message(BusMessage(ev))

    def on_bus_message(self, message: BusMessage) -> None:
        self.apply(message.event)

    def apply(self, ev: BusEvent) -> None:
        """Take one bus event into the state, redraw, and take over the screen for a new alarm for me."""
        before = self._routed()
        ring = False
        match ev:
            case Up():
                self.rec = self.rec.connected()
                self.set_timer(self.resync_settle_s, partial(self._resync_done, self.rec.gen))
            case Down():
                self.rec = self.rec.disconnected(self.clock())
            case Cleared(kind=kind, ident=ident):
                self._clear(kind, ident)
            case Bad(topic=topic, error=error):
                self.notice(self.texts.bad_message.format(topic=topic, error=error[:120]), "warn")
            case Got(msg=msg):
                ring = self._got(msg)
        self.refresh_view()
        after = self._routed()
        if ring or after - before:
            self._take_over()

    def _got(self, msg: object) -> bool:
        if isinstance(msg, IncidentState):
            self.rec = self.rec.with_incident(msg)
        elif isinstance(msg, IncidentTimeline):
            self.rec = self.rec.with_timeline(msg)
        elif isinstance(msg, UnitHealth):
            self.rec = self.rec.with_unit(msg)
        elif isinstance(msg, PresenceState):
            self.rec = self.rec.with_presence(msg)
        elif isinstance(msg, ConsoleStatus):
            self.rec = self.rec.with_console(msg, self.clock())
        elif isinstance(msg, Notification):
            if msg.person_id != self.ctx.me:
                return False  # not mine (the broker ACL already keeps others' out)
            self.rec = self.rec.with_notification(msg)
            if msg.reason in ROUTING_REASONS:
                st = self.rec.incidents.get(msg.incident_id or "")
                return st is None or st.status.value == "open"
            kind = "warn" if msg.reason in (NotifyReason.FAULT, NotifyReason.REMINDER) else "info"
            self.notice(f"{msg.title}: {msg.body}", kind)
        elif isinstance(msg, CommandReply):
            self._reply(msg)
        return False

    def _clear(self, kind: str, ident: str) -> None:
        if kind == "incident":
            self.rec = self.rec.without_incident(ident)
        elif kind == "timeline":
            self.rec = self.rec.without_timeline(ident)
        elif kind == "unitstate":
            self.rec = self.rec.without_unit(ident)
        elif kind == "presence":
            self.rec = self.rec.without_presence(ident)
        elif kind == "console":
            self.rec = self.rec.with_console(None)

    def _resync_done(self, gen: int) -> None:
        """A while after (re)connecting: forget retained state the broker no longer has."""
        if self.rec.link_up and self.rec.gen == gen:
            self.rec = self.rec.pruned()
            self.refresh_view()

    def _reply(self, reply: CommandReply) -> None:
        entry = self.pending.pop(reply.cmd_id, None)
        if entry is None:
            return  # an answer to another console of mine
        kind, what = entry
        if reply.ok and reply.campaign_id and kind == "test_start":
            self.last_campaign = reply.campaign_id
        if reply.ok and kind == "resolve":
            self._main().query_one(ResolvePane).reset()
        self.notice(reply_text(reply, what, self.texts), "info" if reply.ok else "error")

    def _routed(self) -> set[str]:
        return {r.incident_id for r in self.snap.alarms.rows if r.for_me}

    def _take_over(self) -> None:
        self.bells += 1
        self.bell()
        while len(self.screen_stack) > 1:
            self.pop_screen()
        if self.view != "alarms":
            self.switch_view("alarms")

    # -- drawing --------------------------------------------------------------------
    def refresh_view(self) -> None:
        """Rebuild the snapshot at the current time and show it (also every second)."""
        self.snap = snapshot(
            self.rec,
            self.ctx,
            self.clock(),
            self.sel,
            history_query=self.history_query,
            history_days=self.history_days,
            with_units=self.view == "units",
            with_history=self.view == "history",
        )
        self.sel = self.snap.alarms.selection
        if not self._drawn:
            return
        try:
            self._draw()
        except NoMatches:  # shutting down: the widgets are gone already
            return

    def _main(self) -> Screen[object]:
        """The screen with the panes (queries must not go to a dialog on top of it)."""
        if not self.screen_stack:
            raise NoMatches("no screen")
        return self.screen_stack[0]

    def _draw(self) -> None:
        snap = self.snap
        me = self.ctx.short_name(self.ctx.me)
        self._main().query_one(TopLine).show_line(
            me, self.ctx.time(snap.now), self.view, snap.alarms.open_count, self.texts
        )
        self._main().query_one(StatusBar).show_bar(snap.bar)
        self._main().query_one(AlarmBanner).show_banner(snap.alarms.banner)
        self._main().query_one(AlarmsPane).show_alarms(snap.alarms, self.ctx)
        if self.view == "units":
            self._main().query_one(UnitsPane).show_units(snap.units)
        elif self.view == "history":
            self._show_history()
        elif self.view == "presence":
            self._main().query_one(PresencePane).show_presence(snap.presence)

    def _show_history(self) -> None:
        pane = self._main().query_one(HistoryPane)
        pane.show_history(self.snap.history, self.history_days)
        iid = pane.highlighted()
        row = next((r for r in self.snap.history if r.incident_id == iid), None)
        if row is not None:
            title = self.texts.h_timeline.format(location=row.location, incident=row.incident_id)
            pane.show_timeline(
                title, build_timeline(self.rec, self.ctx, row.incident_id), self.texts.h_no_timeline
            )

    def notice(self, message: str, kind: str = "info") -> None:
        for widget in self._main().query(Notice):
            widget.say(message, kind)

    def switch_view(self, view: str) -> None:
        self.view = view
        self._main().query_one(ContentSwitcher).current = view
        self.refresh_bindings()
        self.refresh_view()
        focus = {"units": "#unit-table", "history": "#history-table", "resolve": "#r-false"}.get(view)
        self.set_focus(self._main().query_one(focus) if focus else None)

    # -- events from widgets ------------------------------------------------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "history-filter":
            self.history_query = event.value
            self.refresh_view()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "history-filter":
            self.set_focus(self._main().query_one("#history-table"))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "history-table" and self.view == "history":
            self._show_history()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "r-save":
            self.action_save()
        elif event.button.id == "r-cancel":
            self.switch_view("alarms")

    # -- actions ------------------------------------------------------------------------
    def _sent(self, cmd_id: uuid.UUID | None, kind: str, what: str, message: str) -> None:
        if cmd_id is not None:
            self.pending[cmd_id] = (kind, what)
        connected = self.bus is not None and self.bus.connected
        self.notice(
            message if connected else f"{message} {self.texts.sent_offline}", "info" if connected else "warn"
        )

    def action_view(self, view: str) -> None:
        self.switch_view(view)

    def action_ack(self) -> None:
        decision = ack_target(self.snap.alarms, self.texts)
        if decision.incident_id is None:
            self.notice(decision.message, "warn")
            return
        row = self.snap.alarms.row(decision.incident_id)
        what = f"{self.texts.key_ack} — {row.location if row else decision.incident_id}"
        cmd = self.bus.ack(decision.incident_id) if self.bus is not None else None
        self._sent(cmd, "ack", what, decision.message)

    def action_pick(self, number: int) -> None:
        self.sel = pick(self.snap.alarms, number)
        self.refresh_view()

    def action_move(self, delta: int) -> None:
        self.sel = move(self.snap.alarms, delta)
        self.refresh_view()

    def action_resolve(self) -> None:
        row = self.snap.alarms.selected
        if row is None:
            self.notice(self.texts.resolve_none, "warn")
            return
        title = self.texts.resolve_title.format(
            num=row.number, location=row.location, incident=row.incident_id
        )
        self._main().query_one(ResolvePane).load(row.incident_id, title)
        self.switch_view("resolve")

    def action_save(self) -> None:
        pane = self._main().query_one(ResolvePane)
        if pane.incident_id is None:
            return
        try:
            registration = Registration.model_validate(pane.values())
        except ValidationError as exc:
            pane.show_error(registration_error(exc, self.texts))
            return
        pane.show_error("")
        iid = pane.incident_id
        cmd = self.bus.resolve(iid, registration) if self.bus is not None else None
        self._sent(
            cmd, "resolve", f"{self.texts.nav_resolve} {iid}", self.texts.resolve_sent.format(incident=iid)
        )
        self.switch_view("alarms")

    def action_go_back(self) -> None:
        if self.view == "history" and isinstance(self.focused, Input):
            self.set_focus(self._main().query_one("#history-table"))
        elif self.view == "resolve":
            self.switch_view("alarms")

    def action_filter(self) -> None:
        self.set_focus(self._main().query_one("#history-filter"))

    def action_present(self) -> None:
        self._presence(True)

    def action_absent(self) -> None:
        self._presence(False)

    def _presence(self, present: bool) -> None:
        cmd = self.bus.presence(present) if self.bus is not None else None
        what = self.texts.key_present if present else self.texts.key_absent
        self._sent(cmd, "presence", what, self.texts.p_sent)

    def action_test_start(self) -> None:
        row = self._main().query_one(UnitsPane).selected_unit(self.snap.units)
        if row is None:
            return
        minutes = self.ctx.site.unit(row.unit_id).test_mode_minutes
        dialog = TestDialog(self.texts, row.unit_id, row.room_id, row.room_text, minutes)
        self.push_screen(dialog, self._test_chosen)

    def _test_chosen(self, req: TestRequest | None) -> None:
        if req is None:
            return
        what = f"{req.scope.value} {req.target or self.ctx.site.site.id}"
        cmd = self.bus.test_start(req.scope, req.target, req.minutes) if self.bus is not None else None
        self._sent(cmd, "test_start", what, self.texts.test_sent.format(what=what, minutes=int(req.minutes)))

    def action_test_stop(self) -> None:
        cmd = self.bus.test_stop(self.last_campaign) if self.bus is not None else None
        self._sent(cmd, "test_stop", self.texts.key_test_stop, self.texts.test_stop_sent)

    def action_demo(self) -> None:
        units = [(u.id, self.ctx.room_label(u.room)) for u in self.ctx.site.units if u.role is UnitRole.DESK]
        self.push_screen(DemoDialog(self.texts, units), self._demo_chosen)

    def _demo_chosen(self, unit_id: str | None) -> None:
        if unit_id is None or self.on_demo_press is None:
            return
        self.run_worker(partial(self.on_demo_press, unit_id), thread=True, exit_on_error=False)
        self.notice(self.texts.demo_pressed.format(unit=unit_id))


__all__ = ["BusMessage", "ConsoleApp"]
