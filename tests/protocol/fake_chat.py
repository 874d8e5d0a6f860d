"""Receivers of our outgoing webhooks, speaking HTTP on 127.0.0.1 (run with ``server.serve``).

* :class:`ChatHook`: a Slack / Mattermost incoming webhook. It takes a JSON object with a
  ``text`` (and optional ``attachments``/``blocks``) and answers ``200 ok``, as both do; a
  body without ``text`` gets ``400 no_text`` (Slack's answer). ``fail`` makes it answer
  that status instead (``500`` is a server error, ``404 no_service`` a removed hook).
* :class:`EventReceiver`: an integrator's endpoint that checks ``X-Earful-Signature``
  against the secret (refusing a stale timestamp with 401) and deduplicates on
  ``X-Earful-Event-Id``, answering ``fail`` to the next ``fail_times`` deliveries.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import orjson

from earful.handoff.webhook import verify


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Any, status: int, text: str) -> None:
    await send(
        {"type": "http.response.start", "status": status,
         "headers": [(b"content-type", b"text/plain; charset=utf-8")]}
    )  # fmt: skip
    await send({"type": "http.response.body", "body": text.encode()})


@dataclass
class ChatHook:
    messages: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    fail: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = await _body(receive)
        with self._lock:
            self.requests += 1
            fail = self.fail
        if fail is not None:
            await _answer(send, fail, "no_service" if fail == 404 else "server error")
            return
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            await _answer(send, 400, "invalid_payload")
            return
        if not isinstance(doc, dict) or not doc.get("text"):
            await _answer(send, 400, "no_text")
            return
        with self._lock:
            self.messages.append(doc)
        await _answer(send, 200, "ok")


@dataclass
class EventReceiver:
    secret: str = ""
    events: dict[str, dict[str, Any]] = field(default_factory=dict)  # by event id
    deliveries: int = 0  # requests with a valid signature
    refused: int = 0  # bad or missing signatures
    fail: int = 503
    fail_times: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        body = await _body(receive)
        if not verify(
            self.secret,
            headers.get("x-earful-timestamp"),
            headers.get("x-earful-signature"),
            body,
        ):
            with self._lock:
                self.refused += 1
            await _answer(send, 401, "bad signature")
            return
        with self._lock:
            self.deliveries += 1
            if self.fail_times > 0:
                self.fail_times -= 1
                failing = True
            else:
                failing = False
                doc = orjson.loads(body)
                assert doc["id"] == headers["x-earful-event-id"]
                self.events.setdefault(doc["id"], doc)  # a resend of a known id is a no-op
        await _answer(send, self.fail if failing else 200, "later" if failing else "ok")
