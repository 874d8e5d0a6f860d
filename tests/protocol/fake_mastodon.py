"""A fake Mastodon server: REST (timelines, statuses, search, favourite, reblog) and the
streaming API over WebSocket and server-sent events, with the real entity shapes.

The stream is live: it does not replay. ``script`` is what happens on the server, in order;
each connection streams from where the server's clock is, and ``drop_after`` / ``outage``
make a connection die after N events with the next M events happening while nobody
listens (they are only visible through the REST timelines, as on a real server).
:meth:`FakeMastodon.publish` is someone posting now: the next connection streams it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

HOST = "mastodon.example"
_ids = itertools.count(113_500_000_000_000_001)


def account(acct: str, account_id: str) -> dict[str, Any]:
    return {
        "id": account_id,
        "username": acct.split("@")[0],
        "acct": acct,
        "display_name": acct.split("@")[0].title(),
        "locked": False,
        "bot": False,
        "discoverable": True,
        "group": False,
        "created_at": "2023-01-01T00:00:00.000Z",
        "note": "<p></p>",
        "url": f"https://{HOST}/@{acct}",
        "avatar": f"https://{HOST}/avatars/original/missing.png",
        "followers_count": 10,
        "following_count": 5,
        "statuses_count": 100,
        "last_status_at": "2024-11-23",
        "emojis": [],
        "fields": [],
    }


def status(
    text: str,
    acct: str = "traveller@social.example",
    account_id: str = "109000000000000001",
    in_reply_to: dict[str, Any] | None = None,
    reblog: dict[str, Any] | None = None,
    quote: dict[str, Any] | None = None,
    visibility: str = "public",
    created_at: str = "2024-11-23T13:53:20.000Z",
) -> dict[str, Any]:
    sid = str(next(_ids))
    return {
        "id": sid,
        "created_at": created_at,
        "in_reply_to_id": in_reply_to["id"] if in_reply_to else None,
        "in_reply_to_account_id": in_reply_to["account"]["id"] if in_reply_to else None,
        "sensitive": False,
        "spoiler_text": "",
        "visibility": visibility,
        "language": "en",
        "uri": f"https://{HOST}/users/{acct.split('@')[0]}/statuses/{sid}",
        "url": f"https://{HOST}/@{acct}/{sid}",
        "replies_count": 0,
        "reblogs_count": 0,
        "favourites_count": 0,
        "edited_at": None,
        "favourited": False,
        "reblogged": False,
        "content": "" if reblog else f"<p>{text}</p>",
        "reblog": reblog,
        "quote": {"state": "accepted", "quoted_status": quote} if quote else None,
        "account": account(acct, account_id),
        "media_attachments": [],
        "mentions": [],
        "tags": [{"name": "acmeair", "url": f"https://{HOST}/tags/acmeair"}],
        "emojis": [],
        "card": None,
        "poll": None,
    }


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def sample_script() -> list[tuple[str, Any]]:
    root = status("Lost my bag on flight 212 <br>#acmeair please help &amp; call me")
    reply = status(
        "same here, no bag since Tuesday", "other@mastodon.example", "2", in_reply_to=root
    )
    quote = status("look at this #acmeair", "q@mastodon.example", "3", quote=root)
    boost = status("", "b@mastodon.example", "4", reblog=root)
    edited = dict(
        root,
        content="<p>Lost my bag on flight 212 (AMS) #acmeair</p>",
        edited_at="2024-11-23T14:00:00.000Z",
    )
    later = [status(f"still waiting #acmeair {i}", "w@mastodon.example", "5") for i in range(4)]
    return [
        ("update", root),
        ("update", reply),
        ("update", quote),
        ("update", boost),
        ("status.update", edited),
        ("delete", quote["id"]),
        ("filters_changed", None),
        *[("update", s) for s in later],
    ]


@dataclass
class FakeMastodon:
    script: list[tuple[str, Any]] = field(default_factory=sample_script)
    token: str = "tok"
    drop_after: list[int] = field(default_factory=list)  # per connection: events then drop
    outage: int = 0  # events that happen while the dropped client is away
    clock: int = 0  # how much of the script has happened
    connections: list[dict[str, Any]] = field(default_factory=list)
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    idempotency: dict[str, dict[str, Any]] = field(default_factory=dict)
    favourites: set[str] = field(default_factory=set)
    rate_limit_next: int = 0
    fail_next: int = 0
    requests: list[str] = field(default_factory=list)
    closed: int = 0  # streaming connections the client has closed

    def publish(
        self,
        text: str,
        acct: str = "traveller@social.example",
        account_id: str = "109000000000000001",
        in_reply_to_id: str | None = None,
    ) -> dict[str, Any]:
        """Someone posts ``text`` now (in reply to the status ``in_reply_to_id``)."""
        parent = self.statuses[in_reply_to_id] if in_reply_to_id else None
        new = status(text, acct, account_id, in_reply_to=parent, created_at=_now())
        self.script.append(("update", new))
        return new

    def _happen(self, event: str, payload: Any) -> None:
        if event in ("update", "status.update"):
            self.statuses[payload["id"]] = payload
        elif event == "delete":
            self.statuses.pop(payload, None)

    def _frame(self, event: str, payload: Any, stream: list[str]) -> dict[str, Any]:
        body = (
            payload
            if isinstance(payload, str) or payload is None
            else orjson.dumps(payload).decode()
        )
        frame: dict[str, Any] = {"stream": stream, "event": event}
        if body is not None:
            frame["payload"] = body
        return frame

    def _authed(self, token: str | None) -> bool:
        return token == self.token

    def _events(self) -> list[tuple[str, Any]]:
        """The next events of this connection; advances the clock (and the outage)."""
        drop = self.drop_after.pop(0) if self.drop_after else None
        start = self.clock
        end = len(self.script) if drop is None else min(len(self.script), start + drop)
        return (
            self.script[start:end]
            if drop is None
            else [*self.script[start:end], ("__drop__", None)]
        )

    async def websocket(self, ws: WebSocket) -> None:
        params = ws.query_params
        if not self._authed(params.get("access_token")):
            await ws.close(code=1008)
            return
        stream = [params.get("stream", "public")] + ([params["tag"]] if "tag" in params else [])
        self.connections.append({"transport": "websocket", "stream": stream, "clock": self.clock})
        await ws.accept()
        for event, payload in self._events():
            if event == "__drop__":
                self._outage()
                transport = ws.scope.get("transport")
                if transport is not None:
                    transport.abort()
                return
            self._happen(event, payload)
            self.clock += 1
            await ws.send_text(orjson.dumps(self._frame(event, payload, stream)).decode())
        await _until_closed(ws)
        self.closed += 1

    def _outage(self) -> None:
        for event, payload in self.script[self.clock : self.clock + self.outage]:
            self._happen(event, payload)
            self.clock += 1
        self.outage = 0

    async def sse(self, request: Request) -> Response:
        if not self._authed(request.headers.get("authorization", "").removeprefix("Bearer ")):
            return JSONResponse({"error": "The access token is invalid"}, status_code=401)
        self.connections.append({"transport": "sse", "clock": self.clock})
        events = self._events()

        async def body() -> Any:
            yield b":)\n\n"
            for event, payload in events:
                if event == "__drop__":
                    self._outage()
                    return
                self._happen(event, payload)
                self.clock += 1
                data = (
                    payload
                    if isinstance(payload, str) or payload is None
                    else orjson.dumps(payload).decode()
                )
                yield f"event: {event}\ndata: {data or ''}\n\n".encode()
            while True:
                await asyncio.sleep(0.2)
                yield b":thump\n\n"

        return StreamingResponse(body(), media_type="text/event-stream")

    def _limit(self, request: Request) -> Response | None:
        self.requests.append(f"{request.method} {request.url.path}")
        if self.fail_next:
            self.fail_next -= 1
            return JSONResponse({"error": "Service Unavailable"}, status_code=503)
        if self.rate_limit_next:
            self.rate_limit_next -= 1
            reset = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + 1))
            return JSONResponse(
                {"error": "Too many requests"},
                status_code=429,
                headers={
                    "X-RateLimit-Limit": "300",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": reset,
                },
            )
        if not self._authed(request.headers.get("authorization", "").removeprefix("Bearer ")):
            return JSONResponse({"error": "The access token is invalid"}, status_code=401)
        return None

    async def timeline(self, request: Request) -> Response:
        if (r := self._limit(request)) is not None:
            return r
        min_id = request.query_params.get("min_id")
        limit = int(request.query_params.get("limit", 20))
        key = lambda s: (len(s), s)  # noqa: E731
        ids = sorted((i for i in self.statuses if not min_id or key(i) > key(min_id)), key=key)
        page = ids[:limit]  # min_id: the statuses immediately newer than min_id
        return JSONResponse([self.statuses[i] for i in reversed(page)])  # newest first

    async def search(self, request: Request) -> Response:
        if (r := self._limit(request)) is not None:
            return r
        q = request.query_params.get("q", "").lower()
        hits = [s for s in self.statuses.values() if q in s["content"].lower()]
        return JSONResponse({"accounts": [], "statuses": hits, "hashtags": []})

    async def get_status(self, request: Request) -> Response:
        if (r := self._limit(request)) is not None:
            return r
        found = self.statuses.get(request.path_params["id"])
        if found is None:
            return JSONResponse({"error": "Record not found"}, status_code=404)
        return JSONResponse(found)

    async def post_status(self, request: Request) -> Response:
        if (r := self._limit(request)) is not None:
            return r
        key = request.headers.get("idempotency-key")
        if key and key in self.idempotency:
            return JSONResponse(self.idempotency[key])
        body = await request.json()
        if not body.get("status"):
            return JSONResponse(
                {"error": "Validation failed: Text can't be blank"}, status_code=422
            )
        parent = self.statuses.get(body.get("in_reply_to_id") or "")
        if body.get("in_reply_to_id") and parent is None:
            return JSONResponse({"error": "Record not found"}, status_code=404)
        new = status(
            body["status"],
            "acme@mastodon.example",
            "999",
            in_reply_to=parent,
            visibility=body.get("visibility", "public"),
            created_at=_now(),
        )
        self.statuses[new["id"]] = new
        if key:
            self.idempotency[key] = new
        return JSONResponse(new)

    async def favourite(self, request: Request) -> Response:
        if (r := self._limit(request)) is not None:
            return r
        sid = request.path_params["id"]
        if sid not in self.statuses:
            return JSONResponse({"error": "Record not found"}, status_code=404)
        self.favourites.add(sid)
        return JSONResponse(dict(self.statuses[sid], favourited=True))

    async def reblog(self, request: Request) -> Response:
        if (r := self._limit(request)) is not None:
            return r
        sid = request.path_params["id"]
        if sid not in self.statuses:
            return JSONResponse({"error": "Record not found"}, status_code=404)
        boost = status("", "acme@mastodon.example", "999", reblog=self.statuses[sid])
        self.statuses[boost["id"]] = boost
        return JSONResponse(boost)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                WebSocketRoute("/api/v1/streaming", self.websocket),
                Route("/api/v1/streaming/hashtag", self.sse),
                Route("/api/v1/streaming/public", self.sse),
                Route("/api/v1/timelines/tag/{tag}", self.timeline),
                Route("/api/v1/timelines/public", self.timeline),
                Route("/api/v2/search", self.search),
                Route("/api/v1/statuses", self.post_status, methods=["POST"]),
                Route("/api/v1/statuses/{id}", self.get_status),
                Route("/api/v1/statuses/{id}/favourite", self.favourite, methods=["POST"]),
                Route("/api/v1/statuses/{id}/reblog", self.reblog, methods=["POST"]),
            ]
        )


async def _until_closed(ws: WebSocket) -> None:
    """Keep the socket open like the real server, until the client closes it (a handler
    left sleeping would hold the server's shutdown for its whole grace period)."""
    try:
        while (await ws.receive())["type"] != "websocket.disconnect":
            pass  # what a client sends (Jetstream's options updates) changes nothing here
    except (WebSocketDisconnect, asyncio.CancelledError, RuntimeError):
        return
