"""The ``Notifier`` role and ``NotificationDispatcher``: every channel, with retries, never raising.

A failing notification must never fail the run it reports on, so the dispatcher catches
everything a notifier raises, retries with exponential backoff, and then only logs. Notifiers
name themselves by a ``channel`` that is safe to log (a host, never a token or password).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from shoal.errors import NotificationError, ValidationError
from shoal.notify.records import Delivery, Notification

logger = logging.getLogger(__name__)


class Notifier(Protocol):
    """Sends a notification to one channel; raises ``NotificationError`` when it cannot."""

    @property
    def channel(self) -> str:
        """Where it sends, safe to log: ``webhook hooks.slack.com``, ``email smtp.x.org:587``."""
        ...

    def send(self, notification: Notification) -> None: ...


class NotificationDispatcher:
    """Sends each notification to every notifier, retrying each one on its own.

    ``retries`` is the number of extra attempts after the first; the wait before retry ``n``
    is ``backoff_s * 2 ** (n - 1)``, capped at ``max_backoff_s``.
    """

    def __init__(
        self,
        notifiers: Sequence[Notifier],
        retries: int = 3,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if retries < 0:
            raise ValidationError(f"notification retries must be 0 or more, got {retries}")
        if backoff_s < 0 or max_backoff_s < 0:
            raise ValidationError(f"notification backoff must be 0 or more, got {backoff_s}")
        self._notifiers = tuple(notifiers)
        self._retries = retries
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._sleep = sleep

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(notifier.channel for notifier in self._notifiers)

    def send(self, notification: Notification) -> list[Delivery]:
        """One ``Delivery`` per notifier; never raises, whatever the notifiers do."""
        return [self._deliver(notifier, notification) for notifier in self._notifiers]

    def _deliver(self, notifier: Notifier, notification: Notification) -> Delivery:
        channel = _channel(notifier)
        error = ""
        attempts = self._retries + 1
        for attempt in range(1, attempts + 1):
            try:
                notifier.send(notification)
            except NotificationError as exc:
                error = str(exc)
            except Exception as exc:  # a notifier's bug must not fail the run either
                # Only the type: a third-party message may quote a URL with a token in it.
                error = f"{type(exc).__name__} in the {channel} notifier"
            else:
                logger.debug("notified %s: %s (attempt %d)", channel, notification.title, attempt)
                return Delivery(channel, True, attempt)
            if attempt < attempts:
                wait = min(self._backoff_s * 2 ** (attempt - 1), self._max_backoff_s)
                logger.info("notifying %s failed (%s); retry in %.1f s", channel, error, wait)
                self._sleep(wait)
        logger.warning(
            "could not notify %s of %r after %d attempts: %s",
            channel,
            notification.title,
            attempts,
            error,
        )
        return Delivery(channel, False, attempts, error)


def _channel(notifier: Notifier) -> str:
    try:
        return str(notifier.channel)
    except Exception:
        return type(notifier).__name__
