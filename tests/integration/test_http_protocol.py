"""The coalescing HTTP protocol: one write per response, and HTTP behaves exactly as before."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from shoal.api.protocol import CoalescingHttpToolsProtocol, CoalescingTransport


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0


def test_writes_of_one_loop_turn_leave_as_one() -> None:
    async def scenario() -> tuple[list[bytes], list[bytes], int]:
        inner = RecordingTransport()
        transport = CoalescingTransport(inner, asyncio.get_running_loop())
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        transport.write(memoryview(b"body"))
        held = transport.get_write_buffer_size()
        before = list(inner.writes)
        await asyncio.sleep(0)  # the end of the turn
        return before, inner.writes, held

    before, after, held = asyncio.run(scenario())
    assert before == []
    assert held == 23
    assert after == [b"HTTP/1.1 200 OK\r\n\r\nbody"]


def test_close_sends_what_is_held_and_abort_drops_it() -> None:
    async def scenario() -> tuple[RecordingTransport, RecordingTransport]:
        loop = asyncio.get_running_loop()
        closing, aborting = RecordingTransport(), RecordingTransport()
        one, two = CoalescingTransport(closing, loop), CoalescingTransport(aborting, loop)
        one.write(b"last words")
        one.close()
        two.write(b"never sent")
        two.abort()
        await asyncio.sleep(0)
        return closing, aborting

    closing, aborting = asyncio.run(scenario())
    assert (closing.writes, closing.closed) == ([b"last words"], True)
    assert (aborting.writes, aborting.aborted) == ([], True)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/stream":  # a streamed answer: chunks with loop turns between them
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(50):
            await send({"type": "http.response.body", "body": b"%d," % i, "more_body": True})
            await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": b"end"})
        return
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % (len(body) + 5))]
    await send({"type": "http.response.start", "status": 201, "headers": headers})
    await send({"type": "http.response.body", "body": b"echo:" + body})


@pytest.fixture
def server() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=CoalescingHttpToolsProtocol, log_level="warning"
    )
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=10)


def test_answers_keep_alive_streams_and_close_over_a_real_socket(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        for i in range(20):  # one connection, many answers
            reply = client.post("/echo", content=b"x" * i)
            assert (reply.status_code, reply.content) == (201, b"echo:" + b"x" * i)
        streamed = client.get("/stream")
        assert streamed.text == "".join(f"{i}," for i in range(50)) + "end"
        last = client.post("/echo", content=b"bye", headers={"Connection": "close"})
        assert last.content == b"echo:bye"
