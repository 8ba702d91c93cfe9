"""Email against a real SMTP server (aiosmtpd) and a webhook against a real HTTP receiver,
both on 127.0.0.1, started by the tests."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from aiosmtpd.controller import Controller

from shoal.notify import EmailNotifier, Level, Notification, NotificationDispatcher, WebhookNotifier

FAILED = Notification(
    "pipeline nightly failed",
    "ValueError: day 2024-02-30 does not exist",
    Level.FAILURE,
    {"run": "20240301-020000-abc123", "pipeline": "jobs:nightly"},
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.content)  # type: ignore[attr-defined]
        )
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


def test_an_email_reaches_a_real_smtp_server(smtp: tuple[int, Inbox]) -> None:
    port, inbox = smtp
    notifier = EmailNotifier("127.0.0.1", port, "shoal@example.com", ["oncall@example.com"])
    [delivery] = NotificationDispatcher([notifier]).send(FAILED)
    assert delivery.delivered
    sender, recipients, raw = inbox.messages[0]
    message = message_from_bytes(raw)
    assert (sender, recipients) == ("shoal@example.com", ["oncall@example.com"])
    assert message["Subject"] == "[shoal] pipeline nightly failed"
    body = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "day 2024-02-30 does not exist" in body
    assert "run: 20240301-020000-abc123" in body


def test_an_unreachable_smtp_server_is_retried_then_given_up_without_raising(
    caplog: pytest.LogCaptureFixture,
) -> None:
    notifier = EmailNotifier(
        "127.0.0.1",
        free_port(),
        "shoal@example.com",
        ["oncall@example.com"],
        username="shoal",
        password="hunter2-smtp",
        timeout_s=2,
    )
    waits: list[float] = []
    dispatcher = NotificationDispatcher([notifier], retries=2, backoff_s=0.1, sleep=waits.append)
    caplog.set_level(logging.DEBUG)
    [delivery] = dispatcher.send(FAILED)
    assert not delivery.delivered
    assert delivery.attempts == 3
    assert waits == [0.1, 0.2]
    assert "could not send email via 127.0.0.1" in (delivery.error or "")
    assert "hunter2" not in caplog.text


class Receiver(BaseHTTPRequestHandler):
    answers: ClassVar[list[int]] = []
    bodies: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        Receiver.bodies.append(json.loads(self.rfile.read(length)))
        status = Receiver.answers.pop(0) if Receiver.answers else 200
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Receiver.answers, Receiver.bodies = [], []
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/T0/s3cr3t"
    server.shutdown()
    server.server_close()


def test_a_webhook_that_fails_twice_is_delivered_on_the_third_attempt(
    receiver: str, caplog: pytest.LogCaptureFixture
) -> None:
    Receiver.answers = [503, 500]
    caplog.set_level(logging.DEBUG)
    notifier = WebhookNotifier(receiver)
    [delivery] = NotificationDispatcher([notifier], retries=3, sleep=lambda _: None).send(FAILED)
    assert (delivery.delivered, delivery.attempts) == (True, 3)
    assert len(Receiver.bodies) == 3
    assert Receiver.bodies[-1]["text"] == ":x: pipeline nightly failed"
    assert "s3cr3t" not in caplog.text
