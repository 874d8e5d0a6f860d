"""A local fake of a network's publishing API, for tests and the outbound benchmark.

It speaks the Mastodon REST subset the outbound worker drives (``GET/POST
/api/v1/statuses``, ``/favourite``, ``/reblog``) with Mastodon's semantics: the
``Idempotency-Key`` header makes a repeated post return the first status, every answer
carries ``X-RateLimit-Limit/-Remaining/-Reset`` (an ISO time) for a fixed window, and a
request over the limit gets ``429 {"error": "Too many requests"}``.

Faults are queued per write request: ``"429"``, ``"500"``, ``"timeout"`` (the post is
accepted and stored, the answer never arrives in time), ``"drop"`` (accepted, then the
connection is cut mid-answer) and ``"refuse"`` (cut before anything is stored).
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn

from earful.connectors.base import Actor, Retry, Sent
from earful.connectors.http import check, retry_after

HOST = "fake.social"
ROOT = Path(__file__).resolve().parents[2]  # the repository
Scope = dict[str, Any]


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


def status(sid: str, text: str, acct: str, in_reply_to: str | None = None) -> dict[str, Any]:
    return {
        "id": sid,
        "created_at": _iso(time.time()),
        "in_reply_to_id": in_reply_to,
        "visibility": "public",
        "url": f"https://{HOST}/@{acct}/{sid}",
        "content": f"<p>{text}</p>",
        "account": {"id": str(abs(hash(acct)) % 10**9), "acct": acct, "username": acct},
        "reblog": None,
        "favourited": False,
    }


@dataclass
class FakeNetwork:
    limit: int = 300
    window: float = 300.0
    token: str = "tok"
    hang_s: float = 5.0
    strict_parents: bool = True  # a reply to an unknown status is a 404
    faults: deque[str] = field(default_factory=deque)
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    idempotency: dict[str, str] = field(default_factory=dict)
    favourites: set[str] = field(default_factory=set)
    reblogs: dict[str, str] = field(default_factory=dict)
    writes: list[float] = field(default_factory=list)  # arrival times of counted writes
    posted: list[str] = field(default_factory=list)  # ids of statuses created by POST
    rejected_429: int = 0
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(110_000_000_000_000_001))
    _start: float = field(default_factory=time.monotonic)
    _window_counts: dict[int, int] = field(default_factory=dict)

    def seed(self, text: str = "my bag is lost", acct: str = "alice") -> str:
        sid = str(next(self._ids))
        self.statuses[sid] = status(sid, text, acct)
        return sid

    # ------------------------------------------------------------ accounting

    def _rate(self) -> tuple[bool, dict[str, str]]:
        now = time.monotonic()
        index = int((now - self._start) // self.window)
        used = self._window_counts.get(index, 0)
        reset = time.time() + (self._start + (index + 1) * self.window - now)
        over = used >= self.limit
        if not over:
            self._window_counts[index] = used + 1
            self.writes.append(now)
            used += 1
        headers = {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(max(0, self.limit - used)),
            "x-ratelimit-reset": _iso(reset),
        }
        return over, headers

    def max_in_any_window(self) -> int:
        """The most writes that arrived within any ``window`` seconds (sliding)."""
        best, lo = 0, 0
        times = self.writes
        for hi in range(len(times)):
            while times[hi] - times[lo] >= self.window:
                lo += 1
            best = max(best, hi - lo + 1)
        return best

    def stats(self) -> dict[str, int]:
        return {
            "writes": len(self.writes),
            "posted": len(self.posted),
            "max_in_any_window": self.max_in_any_window(),
            "max_in_fixed_window": self.max_in_fixed_window(),
            "rejected_429": self.rejected_429,
        }

    def max_in_fixed_window(self) -> int:
        return max(self._window_counts.values(), default=0)

    # ------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return
        method, path = scope["method"], scope["path"]
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if path == "/_stats":  # the benchmark's window, not part of the network's API
            await _respond(send, 200, self.stats())
            return
        if headers.get("authorization") != f"Bearer {self.token}":
            await _respond(send, 401, {"error": "The access token is invalid"})
            return
        if method == "GET" and path.startswith("/api/v1/statuses/"):
            found = self.statuses.get(path.rsplit("/", 1)[1])
            if found is None:
                await _respond(send, 404, {"error": "Record not found"})
            else:
                await _respond(send, 200, found)
            return
        if method != "POST":
            await _respond(send, 404, {"error": "Record not found"})
            return
        fault = self.faults.popleft() if self.faults else None
        if fault == "refuse":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            raise ConnectionAbortedError("fake network: connection cut before accepting")
        if fault == "500":
            await _respond(send, 500, {"error": "We're sorry, but something went wrong."})
            return
        if fault == "429":
            self.rejected_429 += 1
            reset = {"x-ratelimit-reset": _iso(time.time() + 0.2), "x-ratelimit-remaining": "0"}
            await _respond(send, 429, {"error": "Too many requests"}, reset)
            return
        over, rate = self._rate()
        if over:
            self.rejected_429 += 1
            await _respond(send, 429, {"error": "Too many requests"}, rate)
            return
        code, doc = self._write(path, body, headers.get("idempotency-key"))
        if fault == "timeout":
            await asyncio.sleep(self.hang_s)  # accepted and stored; the client gave up
        if fault == "drop":
            payload = orjson.dumps(doc)
            await send(
                {
                    "type": "http.response.start",
                    "status": code,
                    "headers": [(b"content-length", str(len(payload)).encode())],
                }
            )
            raise ConnectionAbortedError("fake network: connection cut after accepting")
        await _respond(send, code, doc, rate)

    def _write(self, path: str, body: bytes, key: str | None) -> tuple[int, dict[str, Any]]:
        if path == "/api/v1/statuses":
            if key and key in self.idempotency:
                return 200, self.statuses[self.idempotency[key]]
            doc = orjson.loads(body or b"{}")
            text = str(doc.get("status") or "")
            if not text.strip():
                return 422, {"error": "Validation failed: Text can't be blank"}
            if len(text) > 500:
                return 422, {"error": "Validation failed: Text character limit of 500 exceeded"}
            parent = doc.get("in_reply_to_id")
            if parent and self.strict_parents and parent not in self.statuses:
                return 404, {"error": "Record not found"}
            sid = str(next(self._ids))
            self.statuses[sid] = status(sid, text, "acme", parent)
            self.posted.append(sid)
            if key:
                self.idempotency[key] = sid
            return 200, self.statuses[sid]
        parts = path.strip("/").split("/")
        if len(parts) == 5 and parts[:3] == ["api", "v1", "statuses"]:
            sid, action = parts[3], parts[4]
            if sid not in self.statuses:
                return 404, {"error": "Record not found"}
            if action == "favourite":
                self.favourites.add(sid)
                return 200, dict(self.statuses[sid], favourited=True)
            if action == "reblog":
                if sid not in self.reblogs:  # Mastodon: reblogging twice is a no-op
                    boost = str(next(self._ids))
                    self.reblogs[sid] = boost
                    self.statuses[boost] = dict(
                        status(boost, "", "acme"), reblog=self.statuses[sid]
                    )
                return 200, self.statuses[self.reblogs[sid]]
        return 404, {"error": "Record not found"}


async def _respond(send: Any, code: int, doc: Any, headers: dict[str, str] | None = None) -> None:
    payload = orjson.dumps(doc)
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": code, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


async def _http11(app: Any, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A lean HTTP/1.1 keep-alive loop around an ASGI app: one write per response."""
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            method, target, _ = line.decode("latin-1").split(" ", 2)
            headers: list[tuple[bytes, bytes]] = []
            length = 0
            while (h := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = h.partition(b":")
                headers.append((name.strip().lower(), value.strip()))
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length) if length else b""
            out: list[bytes] = []

            async def receive(body: bytes = body) -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            async def send(message: dict[str, Any], out: list[bytes] = out) -> None:
                if message["type"] == "http.response.start":
                    out.append(f"HTTP/1.1 {message['status']} X\r\n".encode())
                    out.extend(k + b": " + v + b"\r\n" for k, v in message["headers"])
                    out.append(b"\r\n")
                else:
                    out.append(message.get("body", b""))

            path = target.split("?", 1)[0]
            scope = {"type": "http", "method": method, "path": path, "headers": headers}
            await app(scope, receive, send)
            writer.write(b"".join(out))
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        return
    finally:
        writer.close()


def _serve_forever(port: int, limit: int, window: float) -> None:
    app = FakeNetwork(limit=limit, window=window, strict_parents=False)

    async def main() -> None:
        server = await asyncio.start_server(
            lambda r, w: _http11(app, r, w), "127.0.0.1", port, backlog=1024
        )
        async with server:
            await server.serve_forever()

    asyncio.run(main())


@contextmanager
def serve_process(limit: int, window: float) -> Iterator[str]:
    """A :class:`FakeNetwork` in its own process (no GIL shared with the client)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.network", str(port), str(limit), str(window)],
        cwd=ROOT,  # where `tests` is a package, whatever the caller's working directory
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(url + "/_stats", timeout=1.0)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("fake network process did not start") from None
            time.sleep(0.05)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run ``app`` on 127.0.0.1 (a free port) in a thread; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="critical", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("fake server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


class FakeNetActor(Actor):
    """The lightest client of :class:`FakeNetwork`: one request per action.

    Used by the benchmark (and any test that wants the worker, not a connector, measured).
    """

    name = "fakenet"
    idempotent_actions = frozenset({"reply", "like", "repost"})

    def __init__(self, base_url: str, token: str = "tok", timeout: float = 10.0) -> None:
        self.base = base_url.rstrip("/")
        transport = httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=256),
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        )
        self.client = httpx.AsyncClient(
            timeout=timeout, headers={"Authorization": f"Bearer {token}"}, transport=transport
        )

    async def _post(self, path: str, body: Any = None, key: str | None = None) -> Sent:
        headers = {"Idempotency-Key": key} if key else {}
        response = await self.client.post(self.base + path, json=body, headers=headers)
        if response.status_code == 429 or response.status_code >= 500:
            raise Retry(f"HTTP {response.status_code}", retry_after(response))
        doc = check(response, path)
        return Sent(str(doc["id"]), doc.get("url"))

    async def reply(self, target: str, text: str, idempotency_key: str | None = None) -> Sent:
        body = {"status": text, "in_reply_to_id": target}
        return await self._post("/api/v1/statuses", body, idempotency_key)

    async def like(self, target: str) -> Sent:
        return await self._post(f"/api/v1/statuses/{target}/favourite")

    async def repost(self, target: str) -> Sent:
        return await self._post(f"/api/v1/statuses/{target}/reblog")


if __name__ == "__main__":
    _serve_forever(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))


# ------------------------------------------------------------------ private channels


@dataclass
class FakeSendApi:
    """The Graph API's Send API (Messenger and Instagram messaging), as Meta answers it.

    ``POST /v21.0/{page-id}/messages`` with a page token: ``recipient.id`` (a page-scoped
    user id, which needs ``messaging_type``) or ``recipient.comment_id`` (a private reply),
    and ``message.text`` (at most 2,000 characters). Answers ``{"recipient_id",
    "message_id"}``; errors in the Graph shape (``error.message/type/code/error_subcode``):
    an unknown user is code 100 subcode 2018001, a bad token is code 190.
    """

    page_id: str = "104680012345678"
    token: str = "page-token"
    known_users: set[str] = field(default_factory=set)
    sent: list[dict[str, Any]] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @staticmethod
    def _error(message: str, code: int, subcode: int | None = None) -> tuple[int, Any]:
        error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
        if subcode is not None:
            error["error_subcode"] = subcode
        error["fbtrace_id"] = "AbCdEfGhIjK"
        return 400, {"error": error}

    def answer(self, path: str, auth: str | None, body: bytes) -> tuple[int, Any]:
        if auth != f"Bearer {self.token}":
            return self._error("Invalid OAuth access token.", 190)
        if path != f"/v21.0/{self.page_id}/messages":
            return self._error("Unknown path components", 2500)
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return self._error("(#100) Invalid JSON", 100)
        recipient = doc.get("recipient") or {}
        text = (doc.get("message") or {}).get("text")
        if not isinstance(text, str) or not text:
            return self._error("(#100) The parameter message is required", 100)
        if len(text) > 2000:
            return self._error("(#100) Length of param message[text] must be less than 2000", 100)
        if "id" in recipient:
            if doc.get("messaging_type") not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
                return self._error("(#100) param messaging_type must be one of ...", 100)
            if str(recipient["id"]) not in self.known_users:
                return self._error("(#100) No matching user found", 100, 2018001)
            who = str(recipient["id"])
        elif "comment_id" in recipient:
            who = f"commenter-of-{recipient['comment_id']}"
        else:
            return self._error("(#100) param recipient must be non-empty", 100)
        self.sent.append(doc)
        return 200, {"recipient_id": who, "message_id": f"m_sent{next(self._ids)}"}

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if scope["method"] != "POST":
            code, doc = self._error("Unsupported get request.", 100, 33)
        else:
            code, doc = self.answer(scope["path"], headers.get("authorization"), body)
        await _respond(send, code, doc)
