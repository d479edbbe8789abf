"""E-mail over SMTP with smtplib: STARTTLS, implicit TLS, or none (a relay on localhost)."""

from __future__ import annotations

import ipaddress
import json
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import format_datetime

from stilalarm.console.delivery.channel import Delivery, PermanentError, TransientError
from stilalarm.console.delivery.secrets import redact, resolve_secret
from stilalarm.console.delivery.texts import ALARM_REASONS, render
from stilalarm.inventory.model import Site
from stilalarm.inventory.people import ChannelKind, Person, SmtpConfig, SmtpSecurity
from stilalarm.wire.messages import ID_RE, Notification

ATTEMPT_HEADER = "X-Stilalarm-Attempt"
"""The attempt's id (`<notification_id>/<n>`): a receiver can tell a retry from a repeat."""


def build_message(
    site: Site, from_addr: str, n: Notification, person: Person, attempt_id: str = ""
) -> EmailMessage:
    """The e-mail for `person` about `n` (plain text, UTF-8, Message-ID from the notification id,
    `X-Stilalarm-Attempt` when `attempt_id` is given)."""
    if not person.email:
        raise PermanentError(f"{person.id} has no e-mail address")
    r = render(site, n, person)
    msg = EmailMessage()
    msg["Subject"] = r.subject
    msg["From"] = from_addr
    msg["To"] = person.email
    msg["Date"] = format_datetime(n.at)
    # Same id on every retry: mail clients show a retried message once.
    msg["Message-ID"] = f"<{n.notification_id}@stilalarm.{site.site.id}>"
    msg["Auto-Submitted"] = "auto-generated"
    if attempt_id:
        msg[ATTEMPT_HEADER] = attempt_id
    if n.reason in ALARM_REASONS:
        msg["X-Priority"] = "1"
        msg["Importance"] = "high"
    msg.set_content(r.body)
    if n.record is not None:  # a completed registration, for Preventie en Veiligheid
        name = f"melding-{_reg_id(n.record)}.json"
        msg.add_attachment(n.record.encode("utf-8"), maintype="application", subtype="json", filename=name)
    return msg


def _reg_id(record: str) -> str:
    try:
        rid = json.loads(record).get("registration_id", "")
    except (ValueError, AttributeError):
        return "registratie"
    return rid if isinstance(rid, str) and ID_RE.match(rid) else "registratie"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _code_error(code: int, what: str) -> TransientError | PermanentError:
    return (PermanentError if 500 <= code < 600 else TransientError)(f"{what} ({code})")


class MailChannel:
    """Sends each notification as one e-mail through the site's SMTP server."""

    kind = ChannelKind.EMAIL
    name = ChannelKind.EMAIL.value
    durable = False
    self_bounded = False

    def __init__(self, site: Site, smtp: SmtpConfig | None = None) -> None:
        cfg = smtp or site.smtp
        if cfg is None:
            raise ValueError("e-mail needs an [smtp] section in the inventory")
        self.site = site
        self.smtp = cfg

    @property
    def attempt_timeout_s(self) -> float:
        # timeout_s bounds each socket operation; a whole send has several of them.
        return self.smtp.timeout_s * 3

    def applies(self, notification: Notification, person: Person) -> bool:
        return bool(person.email)

    def address(self, person: Person) -> str:
        return person.email or ""

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.smtp.ca_file)

    def send(self, item: Delivery) -> None:
        cfg = self.smtp
        person = self.site.person(item.person_id)
        msg = build_message(self.site, cfg.from_addr, item.notification(), person, item.attempt_id)
        password = resolve_secret(cfg.password) if cfg.password else None
        if cfg.security is SmtpSecurity.NONE and cfg.username and not _is_loopback(cfg.host):
            raise PermanentError(f"refusing to log in to {cfg.host} without TLS (security = none)")
        try:
            client: smtplib.SMTP
            if cfg.security is SmtpSecurity.TLS:
                client = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout_s, context=self._tls())
            else:
                client = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s)
            with client:
                client.ehlo()
                if cfg.security is SmtpSecurity.STARTTLS:
                    client.starttls(context=self._tls())
                    client.ehlo()
                if cfg.username:
                    client.login(cfg.username, password or "")
                client.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _m in exc.recipients.values()]
            raise _code_error(max(codes, default=550), "recipient refused") from None
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentError(f"SMTP login refused for user {cfg.username} ({exc.smtp_code})") from None
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentError(f"SMTP server lacks a feature: {redact(str(exc))}") from None
        except smtplib.SMTPResponseException as exc:
            raise _code_error(exc.smtp_code, "SMTP server said no") from None
        except ssl.SSLCertVerificationError as exc:
            raise PermanentError(f"TLS certificate of {cfg.host} not trusted: {exc.verify_message}") from None
        except (TimeoutError, smtplib.SMTPServerDisconnected) as exc:
            if isinstance(exc, TimeoutError) or "timed out" in str(exc):  # smtplib wraps read timeouts
                where = f"{cfg.host}:{cfg.port}"
                raise TransientError(f"no answer from {where} within {cfg.timeout_s:g} s") from None
            raise TransientError(f"{cfg.host}:{cfg.port} closed the connection") from None
        except ConnectionRefusedError:
            raise TransientError(f"connection to {cfg.host}:{cfg.port} refused") from None
        except (OSError, smtplib.SMTPException) as exc:
            detail = redact(str(exc)) or type(exc).__name__
            raise TransientError(f"{type(exc).__name__} talking to {cfg.host}:{cfg.port}: {detail}") from None
