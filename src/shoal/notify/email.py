"""``EmailNotifier``: plain-text email over SMTP (optionally STARTTLS and a login).

The password is only handed to ``SMTP.login``; channel names and errors mention the server.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage

from shoal.errors import NotificationError, ValidationError
from shoal.notify.records import Notification


def email_message(
    notification: Notification, sender: str, recipients: Sequence[str]
) -> EmailMessage:
    """The message: the title as subject, the text and then one ``key: value`` line per fact."""
    message = EmailMessage()
    message["Subject"] = f"[shoal] {notification.title}"
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    facts = "\n".join(f"{key}: {value}" for key, value in notification.facts.items())
    body = notification.text + ("\n\n" + facts if facts else "")
    message.set_content(body + "\n")
    return message


class EmailNotifier:
    """Sends each notification to ``recipients`` through the SMTP server at ``host:port``."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        recipients: Sequence[str],
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout_s: float = 10.0,
    ) -> None:
        if not host:
            raise ValidationError("the SMTP host is empty")
        if not 0 < port < 65536:
            raise ValidationError(f"SMTP port must be 1-65535, got {port}")
        if not recipients:
            raise ValidationError("email notifications need at least one recipient")
        for address in (sender, *recipients):
            if "@" not in address or any(c in address for c in "\r\n,"):
                raise ValidationError(f"{address!r} is not an email address")
        if (username is None) != (password is None):
            raise ValidationError("an SMTP login needs both a user and a password")
        self._host = host
        self._port = port
        self._sender = sender
        self._recipients = tuple(recipients)
        self._username = username
        self._password = password
        self._starttls = starttls
        self._timeout_s = timeout_s

    @property
    def channel(self) -> str:
        return f"email {self._host}:{self._port}"

    def send(self, notification: Notification) -> None:
        message = email_message(notification, self._sender, self._recipients)
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout_s) as smtp:
                if self._starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self._username is not None and self._password is not None:
                    smtp.login(self._username, self._password)
                smtp.send_message(message)
        except smtplib.SMTPResponseException as exc:
            raise NotificationError(
                f"SMTP server {self._host}:{self._port} refused the message "
                f"({exc.smtp_code}: {_text(exc.smtp_error)})"
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise NotificationError(
                f"could not send email via {self._host}:{self._port} ({type(exc).__name__}: {exc})"
            ) from None


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply
