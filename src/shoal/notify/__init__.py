"""Notifications: a ``Notifier`` role, Slack-compatible webhooks and email, retried, never fatal."""

from shoal.notify.email import EmailNotifier
from shoal.notify.notifier import NotificationDispatcher, Notifier
from shoal.notify.records import Delivery, Level, Notification
from shoal.notify.webhook import WebhookNotifier, slack_payload

__all__ = [
    "Delivery",
    "EmailNotifier",
    "Level",
    "Notification",
    "NotificationDispatcher",
    "Notifier",
    "WebhookNotifier",
    "slack_payload",
]
