"""E-mail over SMTP (aiosmtplib): STARTTLS or implicit TLS and authentication as configured (SC_NOTIFY_SMTP_*).
The idempotency key is the message's Message-ID (and X-Smartcity-Idempotency-Key), so a mail repeated after a
restart is recognisable as the same message."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib

from notifications.channels import DeliveryFailed, Outgoing, plain_text


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    starttls: bool = True
    implicit_tls: bool = False
    username: str | None = None
    password: str | None = None
    sender: str = "smartcity@localhost"
    timeout_s: float = 10.0
    message_id_domain: str = "smartcity.local"
    ca_file: str | None = None
    """CA certificates (PEM) to check the server's certificate with; None: the system's."""


class MailSender:
    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings

    def message(self, outgoing: Outgoing) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._settings.sender
        message["To"] = outgoing.address
        message["Subject"] = outgoing.event.title
        message["Date"] = format_datetime(outgoing.event.occurred_at)
        message["Message-ID"] = f"<{outgoing.idempotency_key}@{self._settings.message_id_domain}>"
        message["X-Smartcity-Idempotency-Key"] = outgoing.idempotency_key
        message.set_content(plain_text(outgoing.event))
        return message

    async def send(self, outgoing: Outgoing) -> None:
        settings = self._settings
        try:
            errors, _reply = await aiosmtplib.send(
                self.message(outgoing), hostname=settings.host, port=settings.port,
                start_tls=settings.starttls and not settings.implicit_tls, use_tls=settings.implicit_tls,
                username=settings.username, password=settings.password, timeout=settings.timeout_s,
                cert_bundle=settings.ca_file)
        except aiosmtplib.SMTPException as refused:
            raise DeliveryFailed(f"SMTP: {type(refused).__name__}: {refused}"[:300]) from None
        except OSError as unreachable:
            raise DeliveryFailed(f"SMTP server unreachable: {type(unreachable).__name__}") from None
        if errors:
            raise DeliveryFailed("SMTP server refused the recipient")
