"""The Textual app: glue between the bus (MQTT), the pure view-model and the panes.

The app holds the state, takes in bus events and draws the snapshot; its stylesheet is
`style`, its keys are `keys`, and what the keys and widgets do is `actions.ConsoleActions`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from functools import partial

from textual.app import ComposeResult
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer

from stilalarm.console.tui.actions import ConsoleActions
from stilalarm.console.tui.bus import Bad, Bus, BusEvent, Cleared, Down, Got, Up
from stilalarm.console.tui.keys import VIEW_ACTIONS, bind_keys
from stilalarm.console.tui.model.alarms import Selection
from stilalarm.console.tui.model.context import Ctx
from stilalarm.console.tui.model.history import HISTORY_DAYS, build_timeline
from stilalarm.console.tui.model.received import ROUTING_REASONS, Received
from stilalarm.console.tui.model.registrations import reg_list
from stilalarm.console.tui.model.replies import reply_text
from stilalarm.console.tui.model.snapshot import Snapshot, snapshot
from stilalarm.console.tui.panes import AlarmsPane, HistoryPane, PresencePane, ResolvePane, UnitsPane
from stilalarm.console.tui.regpanes import CompletePane, RegistrationsPane
from stilalarm.console.tui.style import CSS
from stilalarm.console.tui.texts import texts_for
from stilalarm.console.tui.widgets import AlarmBanner, Notice, StatusBar, TopLine
from stilalarm.inventory.model import Site
from stilalarm.wire.credentials import BrokerCredentials
from stilalarm.wire.messages import (
    CommandReply,
    ConsoleStatus,
    IncidentState,
    IncidentTimeline,
    Notification,
    NotifyReason,
    PresenceState,
    RegistrationTodo,
    RiskState,
    UnitHealth,
    utcnow,
)


class BusMessage(Message):
    """A bus event handed from paho's thread to the app's loop (post_message is thread-safe)."""

    def __init__(self, event: BusEvent) -> None:
        super().__init__()
        self.event = event


class ConsoleApp(ConsoleActions):
    """`alarm-console tui`: alarms, resolve, units, history, presence, registrations for one person."""

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
        bind_keys(self, self.texts)

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
            yield RegistrationsPane(t, id="registrations")
            yield CompletePane(t, id="complete")
        yield Footer()

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
        elif isinstance(msg, RiskState):
            self.rec = self.rec.with_risk(msg)
        elif isinstance(msg, Notification):
            if msg.person_id != self.ctx.me:
                return False  # not mine (the broker ACL already keeps others' out)
            if self.rec.has_shown(msg):
                return False  # a copy sent again after the service's restart: shown already
            self.rec = self.rec.with_notification(msg)
            if msg.reason in ROUTING_REASONS:
                st = self.rec.incidents.get(msg.incident_id or "")
                return st is None or st.status.value == "open"
            kind = "warn" if msg.reason in (NotifyReason.FAULT, NotifyReason.REMINDER) else "info"
            self.notice(f"{msg.title}: {msg.body}", kind)
        elif isinstance(msg, RegistrationTodo):
            if msg.person_id == self.ctx.me:  # the broker ACL already keeps others' lists out
                self.rec = self.rec.with_todo(msg)
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
        elif kind == "registrations":
            self.rec = self.rec.without_todo()
        elif kind == "risk":
            self.rec = self.rec.without_risk(ident)

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
        if kind == "registration_complete":
            self._completed(reply, what)
            return
        self.notice(reply_text(reply, what, self.texts), "info" if reply.ok else "error")

    def _completed(self, reply: CommandReply, registration_id: str) -> None:
        """The console's answer to the lead's part: the form is emptied, or keeps its content and
        says why it was refused (the list itself follows from the console's retained list)."""
        label = f"{self.texts.key_complete} {registration_id}"
        text = reply_text(reply, label, self.texts)
        pane = self._main().query_one(CompletePane)
        if pane.registration_id == registration_id:
            if reply.ok:
                pane.reset()
                pane.registration_id = None
            else:
                pane.show_error(text)
        self.notice(text if reply.ok else f"{label} — {text}", "info" if reply.ok else "error")

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
        todo = reg_list(self.rec.todo, self.ctx)
        self._main().query_one(TopLine).show_line(
            me,
            self.ctx.time(snap.now),
            self.view,
            snap.alarms.open_count,
            self.texts,
            len(todo.rows) + todo.more,
        )
        self._main().query_one(StatusBar).show_bar(snap.bar)
        self._main().query_one(AlarmBanner).show_banner(snap.alarms.banner)
        self._main().query_one(AlarmsPane).show_alarms(snap.alarms, self.ctx)
        self._main().query_one(AlarmsPane).show_risks(snap.risks)
        if self.view == "units":
            self._main().query_one(UnitsPane).show_units(snap.units)
        elif self.view == "history":
            self._show_history()
        elif self.view == "presence":
            self._main().query_one(PresencePane).show_presence(snap.presence)
        elif self.view == "registrations":
            self._main().query_one(RegistrationsPane).show_list(todo)

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
        if view == "registrations":  # drawn before it is shown: the table has its rows to focus
            self._main().query_one(RegistrationsPane).show_list(reg_list(self.rec.todo, self.ctx))
        self._main().query_one(ContentSwitcher).current = view
        self.refresh_bindings()
        self.refresh_view()
        focus = {
            "units": "#unit-table",
            "history": "#history-table",
            "resolve": "#r-false",
            "registrations": "#reg-table",
            "complete": "#c-severity",
        }.get(view)
        self.set_focus(self._main().query_one(focus) if focus else None)


__all__ = ["BusMessage", "ConsoleApp"]
