"""Chat, push and SMS gateways through Apprise (teams://, ntfy://, json://, ...)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any
from urllib.parse import quote

import apprise

from stilalarm.console.delivery.channel import Delivery, PermanentError, TransientError
from stilalarm.console.delivery.secrets import install_log_redaction, redact, resolve_secret
from stilalarm.console.delivery.texts import ALARM_REASONS, render
from stilalarm.inventory.model import Site
from stilalarm.inventory.people import AppriseTarget, ChannelKind, Person
from stilalarm.wire.messages import Notification, NotifyReason

_URL_LOGGERS = (
    apprise.LOGGER_NAME,
    "requests",
    "urllib3",
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
)
"""Loggers that write URLs (tokens included) at debug level; their records get secrets blanked."""

_DONE_MEMORY = 2000
"""How many (notification, person) pairs remember which of their targets already got it."""


def target_url(target: AppriseTarget) -> str:
    """The target's URL with `{secret}` filled in from its reference (URL-quoted), read now."""
    if target.secret is None:
        return target.url
    return target.url.replace("{secret}", quote(resolve_secret(target.secret), safe=""))


_HEADER_SCHEMES = frozenset({"json", "jsons", "xml", "xmls", "form", "forms"})
"""Apprise's generic webhooks: they send extra HTTP headers given as `+Name=value` URL parameters."""


def with_attempt(url: str, attempt_id: str) -> str:
    """`url` with the header `X-Stilalarm-Attempt: <attempt_id>` for a generic webhook (json://,
    xml://, form://); other services have no place for it and get `url` unchanged."""
    if not attempt_id or _scheme(url).lower() not in _HEADER_SCHEMES:
        return url
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}+X-Stilalarm-Attempt={quote(attempt_id, safe='')}"


def _scheme(url: str) -> str:
    return url.split("://", 1)[0] if "://" in url else "?"


class AppriseChannel:
    """Sends each notification to every Apprise target of the person.

    With several targets, a retry only goes to the targets that have not taken the
    message yet. A fresh `Apprise` object is made per send, so a secret is held no
    longer than the send.
    """

    kind = ChannelKind.APPRISE
    name = ChannelKind.APPRISE.value
    durable = False
    self_bounded = False
    attempt_timeout_s = 20.0  # Apprise's own defaults: 4 s connect + 4 s read per request

    def __init__(self, site: Site) -> None:
        self.site = site
        self._done: OrderedDict[tuple[str, str], set[int]] = OrderedDict()
        self._lock = threading.Lock()
        install_log_redaction(*_URL_LOGGERS)
        self._plugins_loaded = False

    def applies(self, notification: Notification, person: Person) -> bool:
        return bool(person.apprise)

    def address(self, person: Person) -> str:
        return ""  # several targets, with secrets: read at send time

    def _notify_type(self, n: Notification) -> str:
        if n.reason in ALARM_REASONS:
            return str(apprise.NotifyType.FAILURE.value)
        if n.reason is NotifyReason.FAULT:
            return str(apprise.NotifyType.WARNING.value)
        return str(apprise.NotifyType.INFO.value)

    def send(self, item: Delivery) -> None:
        notification, person = item.notification(), self.site.person(item.person_id)
        key = (str(notification.notification_id), person.id)
        with self._lock:
            done = set(self._done.get(key, set()))
        r = render(self.site, notification, person)
        failed: list[str] = []
        broken: list[str] = []
        for i, target in enumerate(person.apprise):
            if i in done:
                continue
            label = f"target {i + 1} ({_scheme(target.url)})"
            try:
                url = with_attempt(target_url(target), item.attempt_id)
            except PermanentError as exc:  # the other targets still get the message
                broken.append(f"{label}: {exc.reason}")
                continue
            obj = apprise.Apprise(asset=apprise.AppriseAsset(app_id="stilalarm", app_desc="stilalarm"))
            if not obj.add(url):
                broken.append(f"{label}: Apprise does not accept this URL")
                continue
            try:
                result = obj.notify(
                    title=r.subject,
                    body=r.short,
                    notify_type=self._notify_type(notification),
                    attach=_attachment(notification),
                )
            except Exception as exc:  # a plugin bug must not kill the worker
                failed.append(f"{label}: {type(exc).__name__}: {redact(str(exc))}")
                continue
            if bool(result):
                done.add(i)
            else:
                failed.append(f"{label}: not delivered")
        with self._lock:
            self._done[key] = done
            self._done.move_to_end(key)
            while len(self._done) > _DONE_MEMORY:
                self._done.popitem(last=False)
        if not self._plugins_loaded:  # Apprise loads its plugins (and their loggers) on first use
            install_log_redaction(*_URL_LOGGERS)
            self._plugins_loaded = True
        if failed:
            raise TransientError("; ".join(failed + broken))
        if broken:
            raise PermanentError("; ".join(broken))


def _attachment(n: Notification) -> Any:
    """A completed registration's record for Preventie, attached where the service takes files
    (a JSON webhook carries it base64-encoded); None for every other notice."""
    if n.record is None:
        return None
    from apprise.attachment.memory import AttachMemory

    return AttachMemory(content=n.record, name="melding.json", mimetype="application/json")  # type: ignore[no-untyped-call]
