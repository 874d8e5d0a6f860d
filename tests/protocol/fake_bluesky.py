"""A fake Jetstream + PDS speaking the real wire format.

Jetstream: ``/subscribe?wantedCollections=...&cursor=<time_us>&compress=true`` plays back
events with ``time_us >= cursor`` (filtered by collection; identity/account always),
then keeps the socket open. ``drop_after`` closes the socket abruptly after N frames of
one connection (a network drop). PDS (XRPC): createSession, refreshSession, getPosts,
searchPosts, createRecord, with the real error bodies (``ExpiredToken``,
``RateLimitExceeded`` with ``ratelimit-*`` headers, 5xx).

The network goes on: :meth:`FakeBluesky.publish` is someone posting (a commit on the
firehose, a record the PDS can resolve), and every ``createRecord`` of ours is a commit
on the firehose too, as on the real network, where Jetstream carries every repo.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

SAMPLES = Path(__file__).parent / "samples"


def sample_events() -> list[bytes]:
    return [line for line in (SAMPLES / "jetstream.jsonl").read_bytes().splitlines() if line]


@dataclass
class FakeBluesky:
    events: list[bytes] = field(default_factory=sample_events)
    drop_after: list[int] = field(default_factory=list)  # per connection, consumed in order
    connections: list[dict[str, Any]] = field(default_factory=list)
    zstd_dict: bytes | None = None
    # PDS state
    handle: str = "acme.bsky.social"
    did: str = "did:plc:acmeacmeacmeacmeacmeacme"
    password: str = "abcd-efgh-ijkl-mnop"
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    access: set[str] = field(default_factory=set)
    refresh: set[str] = field(default_factory=set)
    expire_next: int = 0  # answer the next N authed calls with ExpiredToken
    expired_status: int = 400  # the PDS says 400; services behind a proxy say 401
    rate_limit_next: int = 0  # answer the next N calls with 429
    fail_next: int = 0  # answer the next N calls with 502
    calls: list[str] = field(default_factory=list)
    search_pages: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        for raw in self.events:
            doc = _doc(raw)
            commit = doc.get("commit") or {}
            if commit.get("operation") == "create":
                uri = f"at://{doc['did']}/{commit['collection']}/{commit['rkey']}"
                self.records[uri] = {"cid": commit["cid"], "value": commit["record"]}
        if not self.search_pages:
            self.search_pages = [(SAMPLES / "searchPosts.json").read_bytes()]

    # ------------------------------------------------------------ the network

    def publish(self, did: str, text: str, reply_to: str | None = None) -> str:
        """``did`` posts ``text`` (in reply to the post ``reply_to``): its at:// URI.

        The commit goes on the firehose (Jetstream's JSON, ``time_us`` now) and the PDS
        can resolve the record (``getPosts``); a reply carries the strong refs of its
        parent and of its thread's root, as the app writes them."""
        record: dict[str, Any] = {
            "$type": "app.bsky.feed.post",
            "createdAt": _now(),
            "langs": ["en"],
            "text": text,
        }
        if reply_to is not None:
            parent = {"uri": reply_to, "cid": self.records[reply_to]["cid"]}
            root = (self.records[reply_to]["value"].get("reply") or {}).get("root") or parent
            record["reply"] = {"root": root, "parent": parent}
        uri, _ = self._commit(did, "app.bsky.feed.post", record)
        return uri

    def _commit(self, did: str, collection: str, record: dict[str, Any]) -> tuple[str, str]:
        """A new record in ``did``'s repo, seen on the firehose: ``(uri, cid)``."""
        rkey = f"3l{secrets.token_hex(5)}"
        cid = "bafyrei" + secrets.token_hex(26)
        uri = f"at://{did}/{collection}/{rkey}"
        self.records[uri] = {"cid": cid, "value": record}
        last = max((_doc(raw).get("time_us", 0) for raw in self.events), default=0)
        event = {
            "did": did,
            "time_us": max(time.time_ns() // 1000, last + 1),
            "kind": "commit",
            "commit": {
                "rev": "3l" + secrets.token_hex(6),
                "operation": "create",
                "collection": collection,
                "rkey": rkey,
                "record": record,
                "cid": cid,
            },
        }
        self.events.append(orjson.dumps(event))
        return uri, cid

    # ------------------------------------------------------------ Jetstream

    async def subscribe(self, ws: WebSocket) -> None:
        params = ws.query_params
        wanted = set(params.getlist("wantedCollections"))
        cursor = int(params["cursor"]) if "cursor" in params else None
        compress = params.get("compress") == "true"
        self.connections.append({"cursor": cursor, "wanted": sorted(wanted), "zstd": compress})
        drop = self.drop_after.pop(0) if self.drop_after else None
        await ws.accept()
        cctx = None
        if compress:
            import zstandard

            zdict = zstandard.ZstdCompressionDict(self.zstd_dict) if self.zstd_dict else None
            cctx = zstandard.ZstdCompressor(dict_data=zdict)
        sent = 0
        for raw in self.events:
            doc = _doc(raw)  # malformed frames (tests) are sent as they are
            if cursor is not None and doc.get("time_us", cursor) < cursor:
                continue
            collection = (doc.get("commit") or {}).get("collection")
            if doc.get("kind") == "commit" and wanted and collection and collection not in wanted:
                continue
            if drop is not None and sent >= drop:
                # An abrupt drop: no close frame, the TCP connection just goes away.
                transport = ws.scope.get("transport")
                if transport is not None:
                    transport.abort()
                else:
                    await ws.close(code=1011)
                return
            if cctx is not None:
                await ws.send_bytes(cctx.compress(raw))
            else:
                await ws.send_text(raw.decode())
            sent += 1
        await _until_closed(ws)

    # ------------------------------------------------------------ XRPC

    def _gate(self, request: Request) -> Response | None:
        self.calls.append(request.url.path.rsplit("/", 1)[-1])
        if self.fail_next:
            self.fail_next -= 1
            return JSONResponse({"error": "InternalServerError"}, status_code=502)
        if self.rate_limit_next:
            self.rate_limit_next -= 1
            reset = int(time.time()) + 1
            return JSONResponse(
                {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
                status_code=429,
                headers={
                    "ratelimit-limit": "3000",
                    "ratelimit-remaining": "0",
                    "ratelimit-reset": str(reset),
                    "ratelimit-policy": "3000;w=300",
                },
            )
        return None

    def _authed(self, request: Request) -> Response | None:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if self.expire_next and token in self.access:
            self.expire_next -= 1
            self.access.discard(token)
            return JSONResponse(
                {"error": "ExpiredToken", "message": "Token has expired"},
                status_code=self.expired_status,
            )
        if token not in self.access:
            return JSONResponse(
                {"error": "AuthenticationRequired", "message": "Invalid identifier or password"},
                status_code=401,
            )
        return None

    def _session(self) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        self.access.add(access)
        self.refresh.add(refresh)
        return {
            "accessJwt": access,
            "refreshJwt": refresh,
            "handle": self.handle,
            "did": self.did,
            "active": True,
        }

    async def create_session(self, request: Request) -> Response:
        if (gate := self._gate(request)) is not None:
            return gate
        body = await request.json()
        if (
            body.get("identifier") not in (self.handle, self.did)
            or body.get("password") != self.password
        ):
            return JSONResponse(
                {"error": "AuthenticationRequired", "message": "Invalid identifier or password"},
                status_code=401,
            )
        return JSONResponse(self._session())

    async def refresh_session(self, request: Request) -> Response:
        if (gate := self._gate(request)) is not None:
            return gate
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.refresh:
            return JSONResponse(
                {"error": "ExpiredToken", "message": "Token has expired"}, status_code=400
            )
        self.refresh.discard(token)
        return JSONResponse(self._session())

    def _view(self, uri: str) -> dict[str, Any]:
        rec = self.records[uri]
        did = uri.split("/")[2]
        return {
            "uri": uri,
            "cid": rec["cid"],
            "author": {"did": did, "handle": f"{did[8:16]}.bsky.social", "labels": []},
            "record": rec["value"],
            "replyCount": 0,
            "repostCount": 0,
            "likeCount": 0,
            "quoteCount": 0,
            "indexedAt": rec["value"].get("createdAt"),
            "labels": [],
        }

    async def get_posts(self, request: Request) -> Response:
        if (gate := self._gate(request)) is not None:
            return gate
        if (auth := self._authed(request)) is not None:
            return auth
        uris = request.query_params.getlist("uris")
        return JSONResponse({"posts": [self._view(u) for u in uris if u in self.records]})

    async def search_posts(self, request: Request) -> Response:
        if (gate := self._gate(request)) is not None:
            return gate
        page = int(request.query_params.get("cursor") or 0)
        if page >= len(self.search_pages):
            return JSONResponse({"posts": []})
        return Response(self.search_pages[page], media_type="application/json")

    async def create_record(self, request: Request) -> Response:
        if (gate := self._gate(request)) is not None:
            return gate
        if (auth := self._authed(request)) is not None:
            return auth
        body = await request.json()
        if body.get("repo") not in (self.did, self.handle):
            return JSONResponse(
                {"error": "InvalidRequest", "message": "repo does not match session"},
                status_code=400,
            )
        record = body.get("record") or {}
        if record.get("$type") != body.get("collection"):
            return JSONResponse(
                {"error": "InvalidRequest", "message": "Invalid $type"}, status_code=400
            )
        for ref in _strong_refs(record):
            if ref.get("uri") not in self.records or self.records[ref["uri"]]["cid"] != ref.get(
                "cid"
            ):
                return JSONResponse(
                    {"error": "InvalidRequest", "message": f"bad strong ref {ref}"},
                    status_code=400,
                )
        uri, cid = self._commit(self.did, body["collection"], record)
        return JSONResponse(
            {
                "uri": uri,
                "cid": cid,
                "commit": {
                    "cid": "bafyrei" + secrets.token_hex(26),
                    "rev": "3l" + secrets.token_hex(6),
                },
                "validationStatus": "valid",
            }
        )

    def routes(self) -> list[BaseRoute]:
        x = "/xrpc/"
        return [
            WebSocketRoute("/subscribe", self.subscribe),
            Route(x + "com.atproto.server.createSession", self.create_session, methods=["POST"]),
            Route(x + "com.atproto.server.refreshSession", self.refresh_session, methods=["POST"]),
            Route(x + "app.bsky.feed.getPosts", self.get_posts),
            Route(x + "app.bsky.feed.searchPosts", self.search_posts),
            Route(x + "com.atproto.repo.createRecord", self.create_record, methods=["POST"]),
        ]

    def app(self) -> Starlette:
        return Starlette(routes=self.routes())


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _doc(raw: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _strong_refs(record: dict[str, Any]) -> list[dict[str, Any]]:
    refs = []
    reply = record.get("reply")
    if isinstance(reply, dict):
        refs += [reply.get("root") or {}, reply.get("parent") or {}]
    if isinstance(record.get("subject"), dict):
        refs.append(record["subject"])
    return refs


async def _until_closed(ws: WebSocket) -> None:
    """Keep the socket open like the real server, until the client closes it (a handler
    left sleeping would hold the server's shutdown for its whole grace period)."""
    try:
        while (await ws.receive())["type"] != "websocket.disconnect":
            pass  # what a client sends (Jetstream's options updates) changes nothing here
    except (WebSocketDisconnect, asyncio.CancelledError, RuntimeError):
        return
