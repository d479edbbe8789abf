"""What the person's keys and the widgets do: commands to the console, views, dialogs."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from pydantic import ValidationError
from textual.app import App
from textual.screen import Screen
from textual.widgets import Button, DataTable, Input

from stilalarm.console.tui.bus import Bus
from stilalarm.console.tui.dialogs import DemoDialog, TestDialog, TestRequest
from stilalarm.console.tui.model.alarms import Selection, ack_target, move, pick, visit_target
from stilalarm.console.tui.model.context import Ctx
from stilalarm.console.tui.model.received import Received
from stilalarm.console.tui.model.registrations import complete_cmd, item_of, victim_part
from stilalarm.console.tui.model.replies import registration_error
from stilalarm.console.tui.model.responses import ResponseDecision, decline_target, on_site_target
from stilalarm.console.tui.model.risks import confirm_target
from stilalarm.console.tui.model.snapshot import Snapshot
from stilalarm.console.tui.panes import ResolvePane, UnitsPane
from stilalarm.console.tui.regpanes import CompletePane, RegistrationsPane
from stilalarm.console.tui.texts import Texts
from stilalarm.inventory.kinds import UnitRole
from stilalarm.wire.messages import Registration, new_id, utcnow


class ConsoleActions(App[int]):
    """The actions and widget events of `ConsoleApp`; the state and drawing are the app's own."""

    texts: Texts
    ctx: Ctx
    bus: Bus | None
    snap: Snapshot
    rec: Received
    sel: Selection
    view: str
    history_query: str
    pending: dict[uuid.UUID, tuple[str, str]]
    last_campaign: str | None
    on_demo_press: Callable[[str], None] | None

    if TYPE_CHECKING:  # drawn by ConsoleApp

        def refresh_view(self) -> None: ...
        def _main(self) -> Screen[object]: ...
        def _show_history(self) -> None: ...
        def notice(self, message: str, kind: str = "info") -> None: ...
        def switch_view(self, view: str) -> None: ...

    # -- events from widgets ------------------------------------------------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "history-filter":
            self.history_query = event.value
            self.refresh_view()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "history-filter":
            self.set_focus(self._main().query_one("#history-table"))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "reg-table" and self.view == "registrations":
            self.action_complete()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "history-table" and self.view == "history":
            self._show_history()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "r-save":
            self.action_save()
        elif event.button.id == "r-cancel":
            self.switch_view("alarms")
        elif event.button.id == "c-save":
            self._save_complete()
        elif event.button.id == "c-cancel":
            self.switch_view("registrations")

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

    def action_decline(self) -> None:
        """'Kan niet komen' for the selected alarm routed to me."""
        self._respond(decline_target(self.snap.alarms, self.texts), "decline", self.texts.key_decline)

    def action_on_site(self) -> None:
        """'Ter plaatse' for the alarm I acknowledged."""
        decision = on_site_target(self.snap.alarms, self.texts, self.ctx.me)
        self._respond(decision, "on_site", self.texts.key_on_site)

    def _respond(self, decision: ResponseDecision, kind: str, label: str) -> None:
        if decision.incident_id is None:
            self.notice(decision.message, "warn")
            return
        row = self.snap.alarms.row(decision.incident_id)
        what = f"{label} — {row.location if row else decision.incident_id}"
        cmd = None
        if self.bus is not None:
            send = self.bus.decline if kind == "decline" else self.bus.on_site
            cmd = send(decision.incident_id)
        self._sent(cmd, kind, what, decision.message)

    def action_visit(self, reached: bool) -> None:
        """An overdue home visit: 'bereikt, alles ok' (b) or 'geen antwoord' (g)."""
        decision = visit_target(self.snap.alarms, self.texts, reached)
        if decision.visit_id is None:
            self.notice(decision.message, "warn")
            return
        what = self.texts.key_reached if reached else self.texts.key_no_answer
        cmd = self.bus.visit_answer(decision.visit_id, reached) if self.bus is not None else None
        self._sent(cmd, "visit_answer", what, decision.message)

    def action_risk_confirm(self) -> None:
        """Confirm the risky conversation I stand by for (v)."""
        risk_id = confirm_target(self.snap.risks)
        if risk_id is None:
            self.notice(self.texts.risk_none, "warn")
            return
        cmd = self.bus.risk_confirm(risk_id) if self.bus is not None else None
        self._sent(
            cmd, "risk_confirm", self.texts.key_risk_confirm, self.texts.risk_sent.format(risk=risk_id)
        )

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

    def action_complete(self) -> None:
        """Open the lead's part of the highlighted registration (c, Enter)."""
        rid = self._main().query_one(RegistrationsPane).highlighted()
        item = item_of(self.rec.todo, rid) if rid is not None else None
        if item is None:
            self.notice(self.texts.reg_none, "warn")
            return
        team = self.ctx.team_name(item.team_id)
        title = self.texts.reg_title.format(registration=item.registration_id, team=team)
        pane = self._main().query_one(CompletePane)
        pane.load(item.registration_id, title, victim_part(item, self.ctx), item.weapon)
        self.switch_view("complete")

    def _save_complete(self) -> None:
        """Validate the lead's part with the CLI's own command model, then send it."""
        pane = self._main().query_one(CompletePane)
        rid = pane.registration_id
        if rid is None:
            return
        try:
            cmd = complete_cmd(self.ctx.me, rid, pane.values(), new_id(), utcnow())
        except ValidationError as exc:
            pane.show_error(registration_error(exc, self.texts))
            return
        pane.show_error("")
        sent = self.bus.registration_complete(cmd) if self.bus is not None else None
        self._sent(sent, "registration_complete", rid, self.texts.reg_sent.format(registration=rid))
        self.switch_view("registrations")

    def action_save(self) -> None:
        if self.view == "complete":
            self._save_complete()
            return
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
        elif self.view == "complete":
            self.switch_view("registrations")

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
