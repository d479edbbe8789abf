"""An incident's history for the consoles' History screen, folded from the event log.

Every entry is on the console's clock: a unit's clock may be off by an hour or be in 1970
(`press_time` corrects the press for it).

Pure: facts in, `IncidentTimeline` out. The service keeps one `Timelines` in memory
(rebuilt from the log at start) and publishes an incident's timeline, retained, on
every change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from stilalarm.console import i18n
from stilalarm.console.config import SupervisionPolicy
from stilalarm.console.facts import (
    Acknowledged,
    AlarmReceived,
    CommandRejected,
    DeliveryAttempt,
    Fact,
    LevelSkipped,
    Notified,
    PressRepeated,
    Resolved,
)
from stilalarm.console.regfacts import RegistrationCorrected, RegistrationFiled
from stilalarm.console.responsefacts import Declined, NobodyReachable, OnSite
from stilalarm.console.texts import local_time
from stilalarm.console.visitfacts import OverdueRaised, VisitEnded, VisitNoAnswer
from stilalarm.inventory.model import Site
from stilalarm.wire.messages import IncidentTimeline, NotifyReason, TimelineEntry

_SKEW = timedelta(seconds=SupervisionPolicy().clock_skew_s)
MAX_OUTBOX_WAIT = timedelta(days=1)
"""A press older than this (after correcting the unit's clock) is not believed: see `press_time`."""
RESPONSE_LINES = ("onsite_remind", "no_show", "danger", "danger_escalated")
"""Notices of the responses (issue 16) with their own timeline line (`timeline.<text_key>`)."""
MAX_ENTRIES = 200
KEEP_HEAD = 50
"""A long escalation repeats; keep the first entries and the newest ones."""


def press_time(f: AlarmReceived) -> datetime:
    """When the press happened, by the console's clock.

    A unit whose transmission time agrees with the console (within the supervision policy's
    `clock_skew_s`) is believed. Otherwise only its own times relative to each other are:
    `pressed_at + (at - sent_at)` removes its clock error (what remains is the time the alarm
    waited in its outbox). If that is in the future or more than MAX_OUTBOX_WAIT ago (the unit's
    clock jumped between the press and the send), the stored time `at` is used."""
    try:
        if abs(f.at - f.sent_at) <= _SKEW:
            t = f.pressed_at
        else:
            t = f.pressed_at + (f.at - f.sent_at)
    except OverflowError:
        return f.at
    return t if f.at - MAX_OUTBOX_WAIT <= t <= f.at else f.at


@dataclass
class _Line:
    pressed_at: datetime | None = None
    entries: list[TimelineEntry] = field(default_factory=list)


class Timelines:
    """Per-incident timelines, in the site's language."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.lang = site.site.language
        self._names = {p.id: p.name for p in site.people}
        self._lines: dict[str, _Line] = {}

    def _t(self, key: str, **v: object) -> str:
        return i18n.t(f"timeline.{key}", self.lang, **v)

    def _name(self, pid: str | None) -> str:
        return self._names.get(pid or "", pid or "?")

    def _names_of(self, ids: tuple[str, ...]) -> str:
        return ", ".join(self._name(p) for p in ids)

    def add(self, f: Fact) -> str | None:
        """Fold one fact in; return the incident id whose timeline changed, if any."""
        iid = getattr(f, "incident_id", None)
        if iid is None:
            return None
        line = self._lines.setdefault(iid, _Line())
        new = self._entries(f, line)
        if not new:
            return None
        line.entries.extend(new)
        if len(line.entries) > MAX_ENTRIES:
            line.entries = line.entries[:KEEP_HEAD] + line.entries[-(MAX_ENTRIES - KEEP_HEAD) :]
        return str(iid)

    def timeline(self, incident_id: str, version: int) -> IncidentTimeline | None:
        """The retained message for this incident, or None if nothing is known of it."""
        line = self._lines.get(incident_id)
        if line is None:
            return None
        return IncidentTimeline(incident_id=incident_id, entries=tuple(line.entries), version=version)

    def forget(self, incident_id: str) -> None:
        """Drop an expired incident's timeline from memory."""
        self._lines.pop(incident_id, None)

    def _test_refused(self, at: datetime, why: str | None) -> list[TimelineEntry]:
        """The line saying a unit's test press was taken as a real alarm, and why."""
        if why is None:
            return []
        text = self._t("test_refused", why=self._t(why))
        return [TimelineEntry(at=at, kind="test_refused", text=text[:200])]

    def _entries(self, f: Fact, line: _Line) -> list[TimelineEntry]:
        say = self._t
        match f:
            case AlarmReceived():
                line.pressed_at = press_time(f)
                ms = max(0, round((f.at - line.pressed_at).total_seconds() * 1000))
                return [
                    TimelineEntry(
                        at=line.pressed_at,
                        kind="pressed",
                        text=say("pressed", button=f.button_id, unit=f.unit_id),
                    ),
                    *self._test_refused(f.at, f.test_refused),
                    TimelineEntry(at=f.at, kind="stored", text=say("stored", ms=ms)),
                ]
            case PressRepeated() if f.count > 1:
                last = (f.last_pressed_at or f.pressed_at).isoformat(timespec="seconds")
                text = say("repeated_n", count=f.count, button=f.button_id, last=last)
                return [TimelineEntry(at=f.at, kind="repeated", text=text[:200])]
            case PressRepeated():
                return [
                    TimelineEntry(at=f.at, kind="repeated", text=say("repeated", button=f.button_id)),
                    *self._test_refused(f.at, f.test_refused),
                ]
            case Notified() if f.text_key in RESPONSE_LINES:
                text = say(f.text_key, level=f.level, names=self._names_of(f.person_ids))
                return [TimelineEntry(at=f.at, kind=f.text_key[:40], level=f.level or None, text=text[:200])]
            case Declined():
                text = say("declined", name=self._name(f.person_id))
                return [TimelineEntry(at=f.at, kind="declined", person_id=f.person_id, text=text[:200])]
            case OnSite():
                secs = round((f.at - line.pressed_at).total_seconds()) if line.pressed_at else "?"
                via = say("via_pager") if f.via == "pager" else ""
                text = say("on_site", name=self._name(f.person_id), secs=secs, via=via)
                return [TimelineEntry(at=f.at, kind="on_site", person_id=f.person_id, text=text[:200])]
            case NobodyReachable():
                return [TimelineEntry(at=f.at, kind="nobody_reachable", text=say("nobody_reachable")[:200])]
            case Notified():
                names = self._names_of(f.person_ids)
                if f.reason is NotifyReason.REPEAT:
                    text = say("repeat", names=names)
                elif f.reason in (NotifyReason.ALARM, NotifyReason.ESCALATION):
                    text = say("notified_101" if f.call_101 else "notified", level=f.level, names=names)
                else:
                    key = f"told_{f.reason.value}"
                    key = key if i18n.has(f"timeline.{key}") else "told"
                    text = say(key, what=f.reason.value, names=names)
                kind = "escalated" if f.reason is NotifyReason.ESCALATION else f"notified_{f.reason.value}"
                if f.reason is NotifyReason.ALARM:
                    kind = "notified"
                return [TimelineEntry(at=f.at, kind=kind[:40], level=f.level or None, text=text[:200])]
            case LevelSkipped():
                text = say("skipped", level=f.level, names=self._names_of(f.absent) or "-")
                return [TimelineEntry(at=f.at, kind="skipped", level=f.level, text=text[:200])]
            case Acknowledged():
                secs = round((f.at - line.pressed_at).total_seconds()) if line.pressed_at else "?"
                via = say("via_pager") if f.via == "pager" else ""
                text = say("acknowledged", name=self._name(f.person_id), secs=secs, via=via)
                return [TimelineEntry(at=f.at, kind="acknowledged", person_id=f.person_id, text=text[:200])]
            case Resolved():
                r = f.registration
                what = (
                    say("false_alarm")
                    if r.false_alarm
                    else ", ".join(
                        [*(a.value for a in r.aggression_types), *([r.severity.value] if r.severity else [])]
                    )
                )
                text = say("resolved", name=self._name(f.person_id), what=what)
                return [TimelineEntry(at=f.at, kind="resolved", person_id=f.person_id, text=text[:200])]
            case CommandRejected():
                text = say("rejected", code=f.code, name=self._name(f.person_id))
                return [TimelineEntry(at=f.at, kind="rejected", person_id=f.person_id, text=text[:200])]
            case DeliveryAttempt():
                status = say(f.status, attempt=f.attempt)
                reason = f" — {f.reason}" if f.reason and f.status != "delivered" else ""
                text = say(
                    "delivery", channel=f.channel, name=self._name(f.person_id), status=status, reason=reason
                )
                return [
                    TimelineEntry(
                        at=f.at, kind=f"delivery_{f.status}", person_id=f.person_id, text=text[:200]
                    )
                ]
            case OverdueRaised():  # a home visit nobody heard back from: its "press" is now
                line.pressed_at = f.at
                key = "overdue_early" if f.early else "overdue"
                text = say(key, name=self._name(f.person_id), planned=local_time(self.site, f.planned_end))
                return [TimelineEntry(at=f.at, kind="overdue", person_id=f.person_id, text=text[:200])]
            case RegistrationFiled():  # the victim's part of the alarm's registration (not its content)
                text = say("registration_filed", name=self._name(f.person_id))
                return [TimelineEntry(at=f.at, kind="registration", person_id=f.person_id, text=text[:200])]
            case RegistrationCorrected():  # who corrected which part, when (not what)
                text = say(f"registration_corrected_{f.part}", name=self._name(f.person_id))
                return [
                    TimelineEntry(
                        at=f.at, kind="registration_corrected", person_id=f.person_id, text=text[:200]
                    )
                ]
            case VisitNoAnswer():
                text = say("visit_no_answer", name=self._name(f.person_id))
                return [TimelineEntry(at=f.at, kind="no_answer", person_id=f.person_id, text=text[:200])]
            case VisitEnded() if f.incident_id is not None:
                text = say(f"visit_{f.how}", name=self._name(f.person_id))
                return [TimelineEntry(at=f.at, kind=f"visit_{f.how}", person_id=f.person_id, text=text[:200])]
            case _:
                return []
