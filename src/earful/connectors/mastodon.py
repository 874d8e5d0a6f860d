"""Mastodon (and other servers with the Mastodon API).

* Listen: the streaming API over WebSocket (``/api/v1/streaming?stream=hashtag&tag=...``,
  ``public``, ``user``) or over server-sent events (``/api/v1/streaming/<stream>``):
  ``update``, ``status.update`` (edits), ``delete``, ``notification`` (mentions).
* No gap: the stream does not replay, so every (re)connection first opens the stream,
  then catches up over REST from the stored cursor (``min_id`` = the newest status heard)
  before handing on the buffered stream; the pipeline's idempotency drops the overlap.
* Backfill: ``/api/v2/search?type=statuses`` for a query when there is no cursor yet.
* Act: ``POST /api/v1/statuses`` with ``in_reply_to_id`` and an ``Idempotency-Key``,
  ``/favourite``, ``/reblog``; direct messages are statuses with ``visibility=direct``.
* Rate limits: ``X-RateLimit-Remaining`` / ``X-RateLimit-Reset`` (an ISO time).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, ClassVar, Literal
from urllib.parse import urlencode, urlsplit

import httpx
import orjson
import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from earful.connectors.base import (
    ActionError,
    Actor,
    AuthError,
    Batch,
    ConnectorError,
    LiveConnector,
    Retry,
    Sent,
)
from earful.connectors.batching import cancel, frame_batches
from earful.connectors.http import RateGate, check, request
from earful.connectors.registry import register
from earful.connectors.wire import (
    BadRecord,
    mastodon_event,
    parse_mastodon_frame,
    parse_mastodon_status,
)
from earful.pipeline.schema import Rejected

Stream = Literal["public", "public:local", "hashtag", "user"]


def _id_key(status_id: str) -> tuple[int, str]:
    """Mastodon ids are numeric strings (snowflakes): compare by length, then text."""
    return len(status_id), status_id


@register
class Mastodon(LiveConnector, Actor):
    name: ClassVar[str] = "mastodon"
    network: ClassVar[str] = "mastodon"

    def __init__(
        self,
        base_url: str,
        access_token: str | None = None,
        stream: Stream = "hashtag",
        tag: str | None = None,
        query: str | None = None,
        transport: Literal["websocket", "sse"] = "websocket",
        streaming_url: str | None = None,
        batch_size: int = 200,
        batch_wait_s: float = 0.5,
        catch_up_pages: int = 10,
        idle_timeout: float | None = None,
        max_failures: int | None = None,
        source_key: str | None = None,
    ) -> None:
        super().__init__()
        if stream == "hashtag" and not tag:
            raise ConnectorError("the hashtag stream needs a tag")
        self.base = base_url.rstrip("/")
        self.instance = urlsplit(self.base).netloc
        self.streaming = (streaming_url or self.base).rstrip("/")
        self.token = access_token
        self.stream = stream
        self.tag = tag.lstrip("#") if tag else None
        self.query = query
        self.transport = transport
        self.batch_size = batch_size
        self.batch_wait_s = batch_wait_s
        self.catch_up_pages = catch_up_pages
        self.idle_timeout = idle_timeout
        self.max_failures = max_failures
        self.source_key = source_key or f"{self.instance}:{stream}:{self.tag or ''}"
        self.gate = RateGate()
        self._client: httpx.AsyncClient | None = None

    @property
    def source_name(self) -> str:
        return f"mastodon:{self.source_key}"

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=30.0, headers=self._headers())
        return self._client

    async def _get(self, path: str, params: Any = None) -> Any:
        response = await request(
            self.client(), "GET", self.base + path, params=params, gate=self.gate
        )
        return check(response, path)

    def external(self, status_id: str) -> str:
        return f"{self.instance}/{status_id}"

    def local_id(self, external_id: str) -> str:
        host, sep, status_id = external_id.rpartition("/")
        if not sep or host != self.instance:
            raise ConnectorError(f"{external_id!r} is not a status of {self.instance}")
        return status_id

    # ------------------------------------------------------------ listen

    def _timeline_path(self) -> str:
        if self.stream == "hashtag":
            return f"/api/v1/timelines/tag/{self.tag}"
        if self.stream == "user":
            return "/api/v1/timelines/home"
        return "/api/v1/timelines/public"

    def _stream_params(self) -> dict[str, str]:
        params: dict[str, str] = {"stream": self.stream}
        if self.tag:
            params["tag"] = self.tag
        return params

    async def catch_up(self, since: str) -> list[Any]:
        """Statuses newer than ``since`` (oldest first), page by page with ``min_id``."""
        out: list[Any] = []
        min_id = since
        params: dict[str, Any] = {"limit": 40}
        if self.stream == "public:local":
            params["local"] = "true"
        for _ in range(self.catch_up_pages):
            page = await self._get(self._timeline_path(), {**params, "min_id": min_id})
            if not isinstance(page, list) or not page:
                break
            page = sorted(page, key=lambda s: _id_key(str(s.get("id", ""))))  # newest last
            out.extend(page)
            min_id = str(page[-1].get("id"))
        return out

    async def session(self, cursor: str | None) -> AsyncIterator[Batch]:
        state = orjson.loads(cursor) if cursor else {}
        newest: str | None = state.get("s")
        frames: AsyncIterator[tuple[str, Any]] = (
            self._websocket() if self.transport == "websocket" else self._sse()
        )
        # Open the stream first (events queue up in it), then fill the gap over REST.
        first = asyncio.ensure_future(anext(frames))
        await asyncio.sleep(0)
        try:
            backlog: list[Any] = []
            if newest:
                backlog = await self.catch_up(newest)
            elif self.query:
                found = await self._get(
                    "/api/v2/search", {"q": self.query, "type": "statuses", "limit": 40}
                )
                backlog = sorted(
                    (found or {}).get("statuses") or [],
                    key=lambda s: _id_key(str(s.get("id", ""))),
                )
            batch = Batch(posts=[])
            for i, doc in enumerate(backlog):
                try:
                    post = parse_mastodon_status(doc, self.instance)
                except BadRecord as exc:
                    batch.rejected.append(Rejected(f"catch-up {newest}:{i}", str(exc), _raw(doc)))
                    continue
                (batch.private if doc.get("visibility") == "direct" else batch.posts).append(post)
                newest = _newer(newest, str(doc["id"]))
            batch.cursor = _cursor(newest)
            if batch.posts or batch.private or batch.rejected:
                yield batch
        except BaseException:
            await cancel(first)
            await frames.aclose()  # type: ignore[attr-defined]
            raise
        async with contextlib.aclosing(self._batches(first, frames, newest)) as batches:
            async for batch in batches:
                yield batch

    async def _batches(
        self,
        first: asyncio.Future[tuple[str, Any]],
        frames: AsyncIterator[tuple[str, Any]],
        newest: str | None,
    ) -> AsyncGenerator[Batch, None]:
        cursor = _cursor(newest)
        bad = 0
        chunks = frame_batches(
            frames,
            first=first,
            size=self.batch_size,
            wait_s=self.batch_wait_s,
            idle_timeout=self.idle_timeout,
        )
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                batch = Batch(posts=[], cursor=cursor)
                for event, payload in chunk:
                    try:
                        if event == "__frame__":
                            what, item = parse_mastodon_frame(payload, self.instance)
                        else:
                            what, item = mastodon_event(event, payload, self.instance)
                    except BadRecord as exc:
                        bad += 1
                        raw = payload if isinstance(payload, bytes) else str(payload).encode()
                        where = f"frame {bad} after {newest}"
                        batch.rejected.append(Rejected(where, str(exc), raw))
                        continue
                    if what == "post":
                        batch.posts.append(item)
                        if item.external_id.startswith(self.instance + "/"):
                            newest = _newer(newest, item.external_id.rpartition("/")[2])
                            batch.cursor = cursor = _cursor(newest)
                    elif what == "private":  # a direct status: see pipeline.private
                        batch.private.append(item)
                    elif what == "edit":
                        batch.edited.append(item)
                    elif what == "delete":
                        batch.deleted.append(item)
                    else:
                        batch.skipped += 1
                yield batch

    async def _websocket(self) -> AsyncIterator[tuple[str, Any]]:
        ws_base = self.streaming.replace("https://", "wss://").replace("http://", "ws://")
        params = self._stream_params()
        if self.token:
            params["access_token"] = self.token
        url = f"{ws_base}/api/v1/streaming?{urlencode(params)}"
        try:
            ws = await websockets.connect(url, open_timeout=10, ping_interval=20)
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise AuthError(f"streaming refused the token: HTTP {status}") from None
            raise Retry(f"streaming refused the connection: HTTP {status}") from None
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            raise Retry(f"cannot connect to streaming: {type(exc).__name__}") from None
        try:
            while True:
                try:
                    frame = await ws.recv()
                except ConnectionClosed as exc:
                    code = exc.rcvd.code if exc.rcvd else 1006
                    raise Retry(f"streaming connection closed (code {code})") from None
                yield "__frame__", frame.encode() if isinstance(frame, str) else frame
        finally:
            await ws.close()

    async def _sse(self) -> AsyncIterator[tuple[str, Any]]:
        path = {"public": "public", "public:local": "public/local", "user": "user"}.get(
            self.stream, "hashtag"
        )
        params = {"tag": self.tag} if self.tag else {}
        url = f"{self.streaming}/api/v1/streaming/{path}"
        try:
            async with self.client().stream("GET", url, params=params, timeout=None) as response:
                if response.status_code in (401, 403):
                    raise AuthError(f"streaming refused the token: HTTP {response.status_code}")
                if response.status_code != 200:
                    raise Retry(f"streaming answered HTTP {response.status_code}")
                event, data = "", list[str]()
                async for line in response.aiter_lines():
                    if line.startswith(":"):
                        continue  # heartbeat (":thump")
                    if not line:
                        if event or data:
                            yield event, "\n".join(data)
                        event, data = "", list[str]()
                    elif line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].lstrip(" "))
        except httpx.TransportError as exc:
            raise Retry(f"streaming connection lost: {type(exc).__name__}") from None
        raise Retry("streaming connection ended")

    # ------------------------------------------------------------ act

    async def _post(self, path: str, body: Any = None, key: str | None = None) -> Any:
        headers = {"Idempotency-Key": key} if key else {}
        response = await request(
            self.client(), "POST", self.base + path, json=body, headers=headers, gate=self.gate
        )
        return check(response, path)

    async def reply(self, target: str, text: str, idempotency_key: str | None = None) -> Sent:
        status_id = self.local_id(target)
        parent = await self._get(f"/api/v1/statuses/{status_id}")
        acct = (parent.get("account") or {}).get("acct") if isinstance(parent, dict) else None
        if acct and f"@{acct}" not in text:
            text = f"@{acct} {text}"
        visibility = parent.get("visibility") if isinstance(parent, dict) else None
        if visibility not in ("unlisted", "private", "direct"):
            visibility = "public"
        doc = await self._post(
            "/api/v1/statuses",
            {
                "status": text,
                "in_reply_to_id": status_id,
                "visibility": visibility
                if visibility in ("unlisted", "private", "direct")
                else "public",
            },
            key=idempotency_key or str(uuid.uuid4()),
        )
        return Sent(self.external(str(doc["id"])), doc.get("url"))

    async def post(self, text: str, idempotency_key: str | None = None) -> Sent:
        doc = await self._post(
            "/api/v1/statuses",
            {"status": text, "visibility": "public"},
            key=idempotency_key or str(uuid.uuid4()),
        )
        return Sent(self.external(str(doc["id"])), doc.get("url"))

    async def like(self, target: str) -> Sent:
        doc = await self._post(f"/api/v1/statuses/{self.local_id(target)}/favourite")
        return Sent(self.external(str(doc.get("id"))))

    async def repost(self, target: str) -> Sent:
        doc = await self._post(f"/api/v1/statuses/{self.local_id(target)}/reblog")
        return Sent(self.external(str(doc.get("id"))), doc.get("url"))

    async def direct_message(self, recipient: str, text: str) -> Sent:
        """A direct status to ``@acct``, or (``in-thread:<status>``) an answer under the
        customer's direct status, mentioning its author; direct either way."""
        body: dict[str, Any] = {"visibility": "direct"}
        if recipient.startswith(IN_THREAD):
            status_id = self.local_id(recipient.removeprefix(IN_THREAD))
            parent = await self._get(f"/api/v1/statuses/{status_id}")
            acct = (parent.get("account") or {}).get("acct") if isinstance(parent, dict) else None
            if not acct:
                raise ActionError("the direct status to answer has no author", 404)
            body["in_reply_to_id"] = status_id
        else:
            acct = recipient.lstrip("@")
        body["status"] = text if f"@{acct}" in text else f"@{acct} {text}"
        doc = await self._post("/api/v1/statuses", body, key=str(uuid.uuid4()))
        return Sent(self.external(str(doc["id"])), doc.get("url"))


IN_THREAD = "in-thread:"  # a direct message's recipient that is a status to answer under


def _newer(a: str | None, b: str) -> str:
    return b if a is None or _id_key(b) > _id_key(a) else a


def _cursor(newest: str | None) -> str | None:
    return orjson.dumps({"s": newest}).decode() if newest else None


def _raw(doc: Any) -> bytes:
    try:
        return orjson.dumps(doc)
    except TypeError:
        return repr(doc).encode()
