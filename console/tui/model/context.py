"""What does not change while the console runs (`Ctx`), and how times and places are put in words."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from stilalarm.console.tui.texts import Texts
from stilalarm.inventory.model import Site


@dataclass(frozen=True)
class Ctx:
    """What does not change while the console runs: inventory, who I am, language, time zone."""

    site: Site
    me: str
    texts: Texts

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.site.site.timezone)

    def name(self, person_id: str | None) -> str:
        if person_id is None:
            return "—"
        try:
            return self.site.person(person_id).name
        except KeyError:
            return person_id

    def short_name(self, person_id: str) -> str:
        """'An P.': first name and initial, for narrow columns."""
        parts = self.name(person_id).split()
        return parts[0] if len(parts) < 2 else f"{parts[0]} {parts[-1][0]}."

    def room_label(self, room_id: str) -> str:
        try:
            room = self.site.room(room_id)
        except KeyError:
            return room_id
        return room.label_en if self.texts.lang == "en" and room.label_en else room.label

    def team_name(self, team_id: str) -> str:
        try:
            return self.site.team(team_id).name
        except KeyError:
            return team_id

    def location(self, room_id: str, team_id: str | None = None) -> str:
        """'Spreekkamer 2 — Sociale dienst': the place in words, never an id alone."""
        if team_id is None:
            try:
                team_id = self.site.room(room_id).team
            except KeyError:
                return self.room_label(room_id)
        return self.texts.location.format(room=self.room_label(room_id), team=self.team_name(team_id))

    def floor(self, room_id: str) -> str:
        try:
            return self.site.room(room_id).floor
        except KeyError:
            return ""

    def time(self, dt: datetime | None) -> str:
        return "—" if dt is None else dt.astimezone(self.tz).strftime("%H:%M:%S")

    def day_time(self, dt: datetime) -> str:
        return dt.astimezone(self.tz).strftime("%d/%m %H:%M")

    def stamp(self, dt: datetime) -> str:
        return dt.astimezone(self.tz).strftime("%d/%m %H:%M:%S")

    def day(self, dt: datetime | None) -> str:
        return self.texts.u_never if dt is None else dt.astimezone(self.tz).strftime("%d/%m/%Y")


def elapsed_text(t: Texts, seconds: float) -> str:
    """'42 s', '3:05', '1:02:05': compact, ticking every second."""
    s = max(0, int(seconds))
    if s < 60:
        return t.secs.format(s=s)
    if s < 3600:
        return t.mins.format(m=s // 60, s=s % 60)
    return t.hours.format(h=s // 3600, m=(s % 3600) // 60, s=s % 60)
