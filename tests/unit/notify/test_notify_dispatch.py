import json
import logging

import httpx
import pytest

from shoal.errors import NotificationError, ValidationError
from shoal.notify import (
    Level,
    Notification,
    NotificationDispatcher,
    WebhookNotifier,
    slack_payload,
)

SECRET_URL = "https://hooks.example.com/services/T000/B000/s3cr3t-token"
FAILED = Notification(
    "pipeline nightly failed", "ValueError: bad day", Level.FAILURE, {"run": "r1"}
)


class FlakyNotifier:
    """Fails ``failures`` times, then delivers; records what it delivered."""

    channel = "flaky"

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or NotificationError("flaky is down")
        self.sent: list[Notification] = []

    def send(self, notification: Notification) -> None:
        if self.failures:
            self.failures -= 1
            raise self.error
        self.sent.append(notification)


def test_a_failed_send_is_retried_with_exponential_backoff() -> None:
    waits: list[float] = []
    flaky = FlakyNotifier(failures=2)
    dispatcher = NotificationDispatcher([flaky], retries=3, backoff_s=0.5, sleep=waits.append)
    [delivery] = dispatcher.send(FAILED)
    assert delivery.delivered
    assert delivery.attempts == 3
    assert waits == [0.5, 1.0]
    assert flaky.sent == [FAILED]


def test_a_notifier_that_keeps_failing_never_raises_and_others_still_deliver() -> None:
    broken = FlakyNotifier(failures=100, error=RuntimeError("bug in a plugin"))
    working = FlakyNotifier(failures=0)
    dispatcher = NotificationDispatcher([broken, working], retries=2, sleep=lambda _: None)
    deliveries = dispatcher.send(FAILED)
    assert [d.delivered for d in deliveries] == [False, True]
    assert deliveries[0].attempts == 3
    assert deliveries[0].error == "RuntimeError in the flaky notifier"
    assert working.sent == [FAILED]


def test_the_webhook_posts_slack_compatible_json() -> None:
    seen: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="ok")

    client = httpx.Client(transport=httpx.MockTransport(receiver))
    WebhookNotifier(SECRET_URL, client=client).send(FAILED)
    body = json.loads(seen[0].content)
    assert body["text"] == ":x: pipeline nightly failed"
    attachment = body["attachments"][0]
    assert attachment["color"] == "#c62828"
    assert attachment["text"] == "ValueError: bad day"
    assert attachment["fields"] == [{"title": "run", "value": "r1", "short": True}]
    assert body == slack_payload(FAILED)


def test_webhook_failures_never_reveal_the_webhook_token(caplog: pytest.LogCaptureFixture) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect to {request.url}", request=request)

    def refusing(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500)

    caplog.set_level(logging.DEBUG)
    deliveries = []
    for handler in (down, refusing):
        client = httpx.Client(transport=httpx.MockTransport(handler))
        notifier = WebhookNotifier(SECRET_URL, client=client)
        assert notifier.channel == "webhook hooks.example.com"
        dispatcher = NotificationDispatcher([notifier], retries=1, sleep=lambda _: None)
        deliveries += dispatcher.send(FAILED)
    assert [d.error for d in deliveries] == [
        "webhook hooks.example.com could not be reached (ConnectError)",
        "webhook hooks.example.com answered HTTP 500",
    ]
    assert "s3cr3t" not in caplog.text
    assert "hooks.example.com" in caplog.text


def test_a_webhook_url_that_is_not_http_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValidationError) as caught:
        WebhookNotifier("ftp://hooks.example.com/s3cr3t")
    assert "s3cr3t" not in str(caught.value)
