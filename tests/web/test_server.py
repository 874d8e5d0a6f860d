"""`earful serve` stops promptly with inbox tabs open: their live streams end on the signal.

A real uvicorn server on a loopback port, a logged-in client holding ``/events`` open (its
ttl is 5 minutes), then the stop signal as the server's signal handler receives it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from earful.web.app import create_app
from earful.web.hub import CLOSED, QUEUE_LIMIT, Hub, Item
from earful.web.server import GRACE_S, Server, config
from tests.web.world import PASSWORD, build_world


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _login(c: httpx.Client) -> None:
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text)
    assert token
    data = {"email": "alice@example.org", "password": PASSWORD, "csrf_token": token.group(1)}
    assert c.post("/login", data=data).status_code == 303


def test_the_stop_signal_ends_open_event_streams_and_the_server_exits(
    sqlite_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    build_world(sqlite_engine)
    app = create_app(
        sqlite_engine,
        secret_key="server-test-key-0123456789abcdef",
        secure_cookies=False,
        live=False,
    )
    port = _free_port()
    # log_config=None: uvicorn's records reach the root logger, where caplog sees them
    server = Server(config(app, "127.0.0.1", port, log_config=None, log_level="info"))
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started

    lines: list[str] = []
    opened, ended = threading.Event(), threading.Event()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        _login(client)

        def listen() -> None:
            with client.stream("GET", "/events", params={"ttl": 300}) as r:
                assert r.status_code == 200
                for line in r.iter_lines():
                    lines.append(line)
                    opened.set()
            ended.set()  # the response ended normally: no transport error

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        assert opened.wait(10)
        caplog.clear()
        stopped_at = time.monotonic()
        server.handle_exit(signal.SIGTERM, None)
        serving.join(timeout=GRACE_S + 20)
        took = time.monotonic() - stopped_at
        listener.join(timeout=5)

    assert not serving.is_alive()
    assert ended.is_set() and lines[0] == "retry: 2000"
    # Ended by the hub, not by the grace period running out and cancelling the stream.
    assert took < GRACE_S / 2, took
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


def test_a_stream_opened_after_close_is_told_to_end_at_once() -> None:
    async def scenario() -> Item:
        hub = Hub()
        hub.close()
        sub = hub.subscribe([1])
        return await asyncio.wait_for(sub.next(), 1)

    assert asyncio.run(scenario()) == CLOSED


def published(
    hub: Hub, sends: Callable[[], None], sub_args: dict[str, Any]
) -> list[tuple[str, str]]:
    """What one subscriber (subscribed with ``sub_args``) is sent after ``sends``, read as
    the event stream reads it: (event, data)."""

    async def scenario() -> list[tuple[str, str]]:
        sub = hub.subscribe(**sub_args)
        sends()
        await asyncio.sleep(0.05)  # let the loop run the scheduled offers
        got = []
        while True:
            try:
                item = await asyncio.wait_for(sub.next(), 0.05)
                got.append((item.event, item.data))
            except TimeoutError:
                return got

    return asyncio.run(scenario())


def test_close_reaches_a_stalled_subscriber_whose_queue_is_full() -> None:
    hub = Hub()

    def flood() -> None:
        for i in range(QUEUE_LIMIT + 5):
            hub.publish(1, "inbox", str(i))
        hub.close()

    items = published(hub, flood, {"brand_ids": [1]})
    assert len(items) == QUEUE_LIMIT and items[-1] == CLOSED[:2]


def test_a_burst_of_reloads_never_pushes_out_an_alert() -> None:
    """An alert published after a flood of reloads still reaches a browser that lags."""
    hub = Hub()

    def burst() -> None:
        hub.publish(1, "notify", "for you")
        for i in range(3 * QUEUE_LIMIT):
            hub.publish(1, "inbox", str(i))
        hub.publish(1, "alert", "spike")

    items = published(hub, burst, {"brand_ids": [1]})
    assert len(items) == QUEUE_LIMIT
    assert items[0] == ("notify", "for you") and items[-1] == ("alert", "spike")
    # The newest reloads are the ones kept: the page ends up current.
    assert items[-2] == ("inbox", str(3 * QUEUE_LIMIT - 1))


def test_an_ingest_batch_asks_each_inbox_once_and_each_conversation_only_its_viewers() -> None:
    hub = Hub()

    def batch() -> None:  # (brand, conversation, post): 3 posts in conversation 7, 1 in 8
        hub.publish_ingest([(1, 7, 100), (1, 7, 101), (1, 8, 102), (1, 7, 103), (2, 9, 104)])

    inbox = published(hub, batch, {"brand_ids": [1]})
    assert inbox == [("inbox", "7,8")]
    on_seven = published(hub, batch, {"brand_ids": [1], "conversation": 7})
    assert on_seven == [("inbox", "7,8"), ("conv-7", "post")]
