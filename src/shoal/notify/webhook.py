"""``WebhookNotifier``: posts Slack-compatible JSON (Slack, Mattermost, Rocket.Chat, Teams relays).

The URL of an incoming webhook is itself the secret (its path holds the token), so only its
host ever appears in a channel name, a log line or an error.
"""

from __future__ import annotations

import logging

import httpx

from shoal.errors import NotificationError, ValidationError
from shoal.notify.records import Level, Notification

MAX_TEXT = 3000
"""Slack truncates a section's text near this length; longer tracebacks are cut here."""

COLOURS = {Level.SUCCESS: "#2e7d32", Level.FAILURE: "#c62828", Level.WARNING: "#f9a825"}
ICONS = {Level.SUCCESS: ":white_check_mark:", Level.FAILURE: ":x:", Level.WARNING: ":warning:"}


class _SecretUrlFilter(logging.Filter):
    """Replaces webhook URLs in httpx's request log lines (httpx logs every URL at INFO)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[str, str] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets and isinstance(record.args, tuple):
            record.args = tuple(self.secrets.get(str(arg), arg) for arg in record.args)
        return True


_REDACT = _SecretUrlFilter()
logging.getLogger("httpx").addFilter(_REDACT)


def slack_payload(notification: Notification) -> dict[str, object]:
    """The JSON body: a ``text`` line every receiver shows, and an attachment with the facts."""
    text = notification.text
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 20] + "\n… (truncated)"
    return {
        "text": f"{ICONS[notification.level]} {notification.title}",
        "attachments": [
            {
                "fallback": notification.title,
                "color": COLOURS[notification.level],
                "title": notification.title,
                "text": text,
                "fields": [
                    {"title": key, "value": value, "short": len(value) <= 40}
                    for key, value in notification.facts.items()
                ],
            }
        ],
    }


class WebhookNotifier:
    """Posts each notification to an incoming-webhook URL.

    ``client`` is injectable (tests pass one over ``httpx.MockTransport``); by default one is
    made per notifier with ``timeout_s``.
    """

    def __init__(
        self, url: str, client: httpx.Client | None = None, timeout_s: float = 10.0
    ) -> None:
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise ValidationError("the webhook URL is not a valid URL") from exc
        if parsed.scheme not in {"http", "https"} or not parsed.host:
            raise ValidationError(
                f"the webhook URL must be http(s)://HOST/..., not a {parsed.scheme or 'bare'} URL"
            )
        self._url = url
        self._host = parsed.host
        _REDACT.secrets[str(parsed)] = f"{parsed.scheme}://{parsed.host}/***"
        self._client = client or httpx.Client(timeout=timeout_s)

    @property
    def channel(self) -> str:
        return f"webhook {self._host}"

    def send(self, notification: Notification) -> None:
        try:
            response = self._client.post(self._url, json=slack_payload(notification))
        except httpx.HTTPError as exc:
            # httpx's messages can quote the URL; name the failure by its type only.
            raise NotificationError(
                f"webhook {self._host} could not be reached ({type(exc).__name__})"
            ) from None
        if not response.is_success:
            raise NotificationError(f"webhook {self._host} answered HTTP {response.status_code}")

    def close(self) -> None:
        self._client.close()
