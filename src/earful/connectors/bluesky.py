"""Bluesky: hear through Jetstream, backfill with searchPosts, answer through XRPC.

* Listen: ``wss://<jetstream>/subscribe?wantedCollections=app.bsky.feed.post&cursor=<time_us>``
  (optionally ``compress=true``: zstd frames with Jetstream's shared dictionary). The cursor
  stored with each batch is the last event's ``time_us``; on (re)connect we ask for
  ``cursor - rewind_us`` so nothing between the last stored event and the drop is missed,
  and the pipeline's idempotency on ``(network, external_id)`` drops the overlap.
* Backfill: ``app.bsky.feed.searchPosts?q=...&sort=latest`` before the first connection.
* Act: ``com.atproto.server.createSession`` with an app password (``refreshSession`` when
  the access token expires), ``com.atproto.repo.createRecord`` for replies (``reply.root``
  and ``reply.parent`` strong refs), likes and reposts; chat messages through the chat
  service (``connectors/bluesky_chat.py`` hears them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlencode

import httpx
import orjson
import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from earful.connectors.base import (
    Actor,
    AuthError,
    Batch,
    ConnectorError,
    LiveConnector,
    Retry,
    Sent,
)
from earful.connectors.http import RateGate, check, request
from earful.connectors.registry import register
from earful.connectors.wire import (
    POST_COLLECTION,
    REPOST_COLLECTION,
    BadRecord,
    jetstream_event,
    parse_bsky_post_view,
)
from earful.pipeline.schema import Rejected

JETSTREAM_URL = "wss://jetstream2.us-east.bsky.network/subscribe"
PDS_URL = "https://bsky.social"
LIKE_COLLECTION = "app.bsky.feed.like"
# Chat (direct messages) lives on Bluesky's chat service, reached through the PDS.
CHAT_PROXY = "did:web:api.bsky.chat#bsky_chat"
CONVO = "convo:"  # a chat answer's target: the conversation itself, not a member


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Xrpc:
    """A logged-in AT Protocol client (app password); refreshes its session by itself."""

    def __init__(
        self,
        pds_url: str,
        identifier: str | None,
        password: str | None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.base = pds_url.rstrip("/") + "/xrpc/"
        self.identifier = identifier
        self.password = password
        self.client = client or httpx.AsyncClient(timeout=30.0)
        self.gate = RateGate()
        self.access: str | None = None
        self.refresh: str | None = None
        self.did: str | None = None

    async def aclose(self) -> None:
        await self.client.aclose()

    async def login(self) -> None:
        if not self.identifier or not self.password:
            raise AuthError("Bluesky needs an identifier and an app password to act")
        response = await request(
            self.client,
            "POST",
            self.base + "com.atproto.server.createSession",
            json={"identifier": self.identifier, "password": self.password},
            gate=self.gate,
        )
        if response.status_code in (400, 401):
            raise AuthError(f"createSession refused: {_xrpc_error(response)}")
        doc = check(response, "createSession")
        self._take(doc)

    def _take(self, doc: Any) -> None:
        try:
            self.access, self.refresh, self.did = doc["accessJwt"], doc["refreshJwt"], doc["did"]
        except (KeyError, TypeError):
            raise AuthError("session response without accessJwt/refreshJwt/did") from None

    async def _refresh(self) -> None:
        if not self.refresh:
            await self.login()
            return
        response = await request(
            self.client,
            "POST",
            self.base + "com.atproto.server.refreshSession",
            headers={"Authorization": f"Bearer {self.refresh}"},
            gate=self.gate,
        )
        if response.status_code >= 400:  # refresh token expired or revoked: log in again
            self.refresh = None
            await self.login()
            return
        self._take(check(response, "refreshSession"))

    async def call(
        self,
        method: str,
        nsid: str,
        params: dict[str, Any] | None = None,
        body: Any = None,
        proxy: str | None = None,
    ) -> Any:
        """``nsid`` on the PDS with our session; ``proxy`` (``atproto-proxy``) has the PDS
        forward it to another service (the chat service) on our behalf."""
        if self.access is None:
            await self.login()
        for attempt in range(2):
            headers = {"Authorization": f"Bearer {self.access}"}
            if proxy:
                headers["atproto-proxy"] = proxy
            response = await request(
                self.client,
                method,
                self.base + nsid,
                params=params,
                json=body,
                headers=headers,
                gate=self.gate,
            )
            expired = response.status_code == 401 or (
                response.status_code == 400 and _xrpc_error(response) == "ExpiredToken"
            )
            if expired and attempt == 0:
                await self._refresh()
                continue
            return check(response, nsid)
        raise AuthError(f"{nsid}: session expired again right after refreshing")

    async def public(self, nsid: str, params: dict[str, Any]) -> Any:
        headers = {"Authorization": f"Bearer {self.access}"} if self.access else {}
        response = await request(
            self.client, "GET", self.base + nsid, params=params, headers=headers, gate=self.gate
        )
        return check(response, nsid)


async def send_chat(xrpc: Xrpc, recipient: str, text: str) -> Sent:
    """A chat message to ``convo:<id>`` (the conversation the customer wrote in, a group
    one included) or to a DID: its one-to-one conversation with us
    (``chat.bsky.convo.getConvoForMembers``); then ``chat.bsky.convo.sendMessage``."""
    convo_id: Any = recipient.removeprefix(CONVO)
    if not recipient.startswith(CONVO):
        found = await xrpc.call(
            "GET", "chat.bsky.convo.getConvoForMembers", params={"members": [recipient]},
            proxy=CHAT_PROXY,
        )  # fmt: skip
        convo = found.get("convo") if isinstance(found, dict) else None
        convo_id = convo.get("id") if isinstance(convo, dict) else None
    if not isinstance(convo_id, str) or not convo_id:
        raise ConnectorError("getConvoForMembers answered without a conversation id")
    sent = await xrpc.call(
        "POST",
        "chat.bsky.convo.sendMessage",
        body={"convoId": convo_id, "message": {"text": text}},
        proxy=CHAT_PROXY,
    )
    message_id = sent.get("id") if isinstance(sent, dict) else None
    return Sent(f"chat:{convo_id}:{message_id}" if isinstance(message_id, str) else None)


def _xrpc_error(response: httpx.Response) -> str:
    try:
        doc = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    err = doc.get("error") if isinstance(doc, dict) else None
    return str(err) if err else f"HTTP {response.status_code}"


@register
class Bluesky(LiveConnector, Actor):
    name: ClassVar[str] = "bluesky"
    network: ClassVar[str] = "bluesky"

    def __init__(
        self,
        jetstream_url: str = JETSTREAM_URL,
        pds_url: str = PDS_URL,
        identifier: str | None = None,
        password: str | None = None,
        query: str | None = None,
        include_reposts: bool = True,
        compress: bool = False,
        zstd_dictionary: bytes | None = None,
        batch_size: int = 500,
        batch_wait_s: float = 0.5,
        rewind_us: int = 2_000_000,
        backfill_pages: int = 5,
        idle_timeout: float | None = None,
        max_failures: int | None = None,
        source_key: str | None = None,
    ) -> None:
        super().__init__()
        self.jetstream_url = jetstream_url
        self.query = query
        self.collections = [POST_COLLECTION] + ([REPOST_COLLECTION] if include_reposts else [])
        self.compress = compress
        self.batch_size = batch_size
        self.batch_wait_s = batch_wait_s
        self.rewind_us = rewind_us
        self.backfill_pages = backfill_pages
        self.idle_timeout = idle_timeout
        self.max_failures = max_failures
        self.source_key = source_key or identifier or "firehose"
        self.xrpc = Xrpc(pds_url, identifier, password)
        self._decompress: Any = None
        if compress:
            try:
                import zstandard
            except ImportError:  # pragma: no cover - zstandard is a pinned dependency
                raise ConnectorError("compress=true needs the zstandard package") from None
            zdict = zstandard.ZstdCompressionDict(zstd_dictionary) if zstd_dictionary else None
            dctx = zstandard.ZstdDecompressor(dict_data=zdict)
            self._decompress = lambda frame: dctx.decompressobj().decompress(frame)

    @property
    def source_name(self) -> str:
        return f"bluesky:{self.source_key}"

    # ------------------------------------------------------------ listen

    def subscribe_url(self, cursor: str | None) -> str:
        params: list[tuple[str, str]] = [("wantedCollections", c) for c in self.collections]
        if cursor:
            params.append(("cursor", str(max(0, int(cursor) - self.rewind_us))))
        if self.compress:
            params.append(("compress", "true"))
        return f"{self.jetstream_url}?{urlencode(params)}"

    async def session(self, cursor: str | None) -> AsyncIterator[Batch]:
        if cursor is None and self.query:
            start = str(int(time.time() * 1_000_000))
            async for batch in self.backfill(self.query):
                batch.cursor = start
                yield batch
            cursor = start
        try:
            ws = await websockets.connect(
                self.subscribe_url(cursor),
                max_size=2**21,
                compression=None,
                open_timeout=10,
                ping_interval=20,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise Retry(f"Jetstream refused the connection: HTTP {status}") from None
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            raise Retry(f"cannot connect to Jetstream: {type(exc).__name__}") from None
        try:
            async for batch in self._frames(ws, cursor):
                yield batch
        finally:
            await ws.close()

    async def _frames(self, ws: Any, cursor: str | None) -> AsyncIterator[Batch]:
        """Batches of frames: full at ``batch_size`` or ``batch_wait_s`` after the first.

        One timeout per batch, never per frame, and never armed across a ``yield`` (the
        consumer's work must not be cancelled by our timer). ``recv`` is cancel-safe.
        """
        loop = asyncio.get_running_loop()
        last_us = 0
        bad_since = 0  # bad frames since the cursor last moved: names each one uniquely
        decompress = self._decompress
        size = self.batch_size
        while True:
            batch = Batch(posts=[], cursor=cursor)
            posts, edited, deleted, rejected = (
                batch.posts,
                batch.edited,
                batch.deleted,
                batch.rejected,
            )
            count = 0
            closed: ConnectionClosed | None = None
            try:
                async with asyncio.timeout(self.idle_timeout) as timer:
                    frame = await ws.recv(decode=False)
                    timer.reschedule(loop.time() + self.batch_wait_s)
                    while True:
                        count += 1
                        if isinstance(frame, bytes) and decompress is not None:
                            try:
                                frame = decompress(frame)
                            except Exception as exc:  # zstd errors are not typed usefully
                                bad_since += 1
                                where = f"frame {bad_since} after {cursor}"
                                rejected.append(Rejected(where, f"bad zstd frame: {exc}", frame))
                                frame = None
                        if frame is not None:
                            raw = frame.encode() if isinstance(frame, str) else frame
                            try:
                                what, payload, time_us = jetstream_event(raw)
                            except BadRecord as exc:
                                bad_since += 1
                                where = f"frame {bad_since} after {cursor}"
                                rejected.append(Rejected(where, str(exc), raw))
                            else:
                                last_us, bad_since = time_us, 0
                                cursor = str(time_us)
                                if what == "post" or what == "repost":
                                    posts.append(payload)  # type: ignore[arg-type]
                                elif what == "edit":
                                    edited.append(payload)  # type: ignore[arg-type]
                                elif what == "delete":
                                    deleted.append(payload)  # type: ignore[arg-type]
                                else:
                                    batch.skipped += 1
                        if count >= size:
                            break
                        frame = await ws.recv(decode=False)
            except TimeoutError:
                if not count:
                    return  # idle
            except ConnectionClosed as exc:
                closed = exc
            batch.cursor = cursor
            batch.lag_s = time.time() - last_us / 1e6 if last_us else None
            if count:
                yield batch
            if closed is not None:
                code = closed.rcvd.code if closed.rcvd else 1006
                raise Retry(f"Jetstream connection closed (code {code})") from None

    # ------------------------------------------------------------ backfill

    async def backfill(self, query: str) -> AsyncIterator[Batch]:
        """Recent history of ``query`` from ``app.bsky.feed.searchPosts`` (newest first)."""
        page_cursor: str | None = None
        for _ in range(self.backfill_pages):
            params: dict[str, Any] = {"q": query, "sort": "latest", "limit": 100}
            if page_cursor:
                params["cursor"] = page_cursor
            try:
                doc = await self.xrpc.public("app.bsky.feed.searchPosts", params)
            except AuthError:
                await self.xrpc.login()
                doc = await self.xrpc.call("GET", "app.bsky.feed.searchPosts", params)
            batch = Batch(posts=[])
            views = doc.get("posts") if isinstance(doc, dict) else None
            for i, view in enumerate(views if isinstance(views, list) else []):
                try:
                    batch.posts.append(parse_bsky_post_view(view))
                except BadRecord as exc:
                    batch.rejected.append(
                        Rejected(f"searchPosts {page_cursor or 0}:{i}", str(exc), _raw(view))
                    )
            yield batch
            page_cursor = doc.get("cursor") if isinstance(doc, dict) else None
            if not page_cursor or not views:
                return

    # ------------------------------------------------------------ act

    async def _strong_ref(self, uri: str) -> tuple[dict[str, str], dict[str, Any]]:
        doc = await self.xrpc.call("GET", "app.bsky.feed.getPosts", params={"uris": [uri]})
        posts = doc.get("posts") if isinstance(doc, dict) else None
        if not posts:
            raise ConnectorError(f"{uri}: no such post (deleted?)")
        view = posts[0]
        return {"uri": view["uri"], "cid": view["cid"]}, view.get("record") or {}

    async def _create(self, collection: str, record: dict[str, Any]) -> Sent:
        if self.xrpc.did is None:
            await self.xrpc.login()
        doc = await self.xrpc.call(
            "POST",
            "com.atproto.repo.createRecord",
            body={"repo": self.xrpc.did, "collection": collection, "record": record},
        )
        uri = doc.get("uri") if isinstance(doc, dict) else None
        url = None
        if isinstance(uri, str) and collection == POST_COLLECTION:
            url = f"https://bsky.app/profile/{self.xrpc.did}/post/{uri.rsplit('/', 1)[-1]}"
        return Sent(uri if isinstance(uri, str) else None, url)

    async def reply(self, target: str, text: str, idempotency_key: str | None = None) -> Sent:
        parent, parent_record = await self._strong_ref(target)
        root = (parent_record.get("reply") or {}).get("root") or parent
        record = {
            "$type": POST_COLLECTION,
            "text": text,
            "createdAt": _now(),
            "reply": {
                "root": {"uri": root["uri"], "cid": root["cid"]},
                "parent": parent,
            },
        }
        return await self._create(POST_COLLECTION, record)

    async def like(self, target: str) -> Sent:
        subject, _ = await self._strong_ref(target)
        record = {"$type": LIKE_COLLECTION, "subject": subject, "createdAt": _now()}
        return await self._create(LIKE_COLLECTION, record)

    async def repost(self, target: str) -> Sent:
        subject, _ = await self._strong_ref(target)
        record = {"$type": REPOST_COLLECTION, "subject": subject, "createdAt": _now()}
        return await self._create(REPOST_COLLECTION, record)

    async def direct_message(self, recipient: str, text: str) -> Sent:
        return await send_chat(self.xrpc, recipient, text)


def _pending(batch: Batch) -> bool:
    return bool(batch.posts or batch.rejected or batch.skipped or batch.deleted or batch.edited)


def _raw(doc: Any) -> bytes:
    try:
        return orjson.dumps(doc)
    except TypeError:
        return repr(doc).encode()
