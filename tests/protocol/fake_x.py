"""A fake X API v2: the filtered stream (chunked, newline-delimited JSON with ``\\r\\n``
keep-alives), its rules endpoint, recent search (``since_id``, ``next_token``), and the
tweets / likes / retweets / DM endpoints, with v2 shapes (``data``, ``includes.users``,
``matching_rules``, ``meta``), problem-document errors and ``x-rate-limit-*`` headers.

The stream is live: ``script`` is what happens, in order; ``drop_after`` makes a
connection die after N events, with the next ``outage`` events happening while nobody
listens (they are only found by recent search, as on X). The Post compliance stream
(four partitions) plays ``compliance_script`` once the script has played, with its own
drops, outages and refused connects, and replays ``backfill_minutes`` of a partition's
events on connect.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

_ids = itertools.count(1_861_000_000_000_000_001)
BRAND_ID = "783214"
USERS = {
    "2244994945": {"id": "2244994945", "name": "Traveller", "username": "traveller"},
    "17874544": {"id": "17874544", "name": "Other One", "username": "otherone"},
    BRAND_ID: {"id": BRAND_ID, "name": "Acme Air", "username": "acmeair"},
}


def tweet(
    text: str,
    author: str = "2244994945",
    refs: list[tuple[str, str]] | None = None,
    edit_of: dict[str, Any] | None = None,
) -> dict[str, Any]:
    tid = str(next(_ids))
    doc: dict[str, Any] = {
        "id": tid,
        "text": text,
        "author_id": author,
        "created_at": "2024-11-23T13:53:20.000Z",
        "lang": "en",
        "conversation_id": tid,
        "edit_history_tweet_ids": [*edit_of["edit_history_tweet_ids"], tid] if edit_of else [tid],
    }
    if refs:
        doc["referenced_tweets"] = [{"type": kind, "id": ref} for kind, ref in refs]
        replied = [ref for kind, ref in refs if kind == "replied_to"]
        if replied:
            doc["in_reply_to_user_id"] = "2244994945"
    return doc


def sample_script() -> list[tuple[str, Any]]:
    root = tweet("@acmeair lost my bag on flight 212, please help")
    reply = tweet("same here, no bag", "17874544", [("replied_to", root["id"])])
    quote = tweet("look at this @acmeair", "17874544", [("quoted", root["id"])])
    rt = tweet(f"RT @traveller: {root['text']}", "17874544", [("retweeted", root["id"])])
    edited = tweet("@acmeair lost my bag on flight 212 (AMS)", edit_of=root)
    later = [tweet(f"@acmeair still waiting {i}") for i in range(4)]
    return [
        ("tweet", root),
        ("tweet", reply),
        ("tweet", quote),
        ("tweet", rt),
        ("tweet", edited),
        ("delete", quote),
        ("garbage", None),
        *[("tweet", t) for t in later],
    ]


def compliance(kind: str, tweet: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A Post compliance stream event: ``delete``, ``tweet_edit``, ``withheld``, ``drop``..."""
    event = {
        "tweet": {"id": tweet["id"], "author_id": tweet["author_id"]},
        **extra,
        "event_at": "2024-11-23T14:00:00.000Z",
    }
    return {"data": {kind: event}}


@dataclass
class FakeX:
    bearer: str = "AAAA-app"
    user_token: str = "user-ctx"
    script: list[tuple[str, Any]] = field(default_factory=sample_script)
    drop_after: list[int] = field(default_factory=list)
    outage: int = 0
    stall_after: int | None = None  # stop sending anything (no keep-alives) after N events
    keepalive_s: float = 0.05
    clock: int = 0
    rules: dict[str, dict[str, str]] = field(default_factory=dict)
    tweets: dict[str, dict[str, Any]] = field(default_factory=dict)
    likes: set[tuple[str, str]] = field(default_factory=set)
    retweets: set[tuple[str, str]] = field(default_factory=set)
    dms: list[tuple[str, str]] = field(default_factory=list)
    # Direct-message events, oldest first (served newest first by GET /2/dm_events).
    dm_events: list[dict[str, Any]] = field(default_factory=list)
    connections: list[float] = field(default_factory=list)
    stream_status: list[int] = field(default_factory=list)  # answers for the next connects
    rate_limit_next: int = 0
    fail_next: int = 0
    requests: list[str] = field(default_factory=list)
    # Post compliance stream: (partition, event) happening once the script has played.
    compliance_script: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    compliance_drop_after: list[int] = field(default_factory=list)
    compliance_outage: int = 0  # events of that partition happening while it is down
    compliance_sent: list[tuple[float, int, bytes]] = field(default_factory=list)  # backfill
    compliance_status: list[int] = field(default_factory=list)  # answers for the next connects

    def _happen(self, event: str, payload: Any) -> None:
        if event == "tweet":
            self.tweets[payload["id"]] = payload
        elif event == "delete":
            self.tweets.pop(payload["id"], None)

    def _line(self, event: str, payload: Any) -> bytes:
        if event == "garbage":
            return b'{"data": {"id": "not-a-number", "text": 5}}'
        if event == "delete":
            doc: Any = {
                "data": {
                    "delete": {
                        "tweet": {"id": payload["id"], "author_id": payload["author_id"]},
                        "event_at": "2024-11-23T14:00:00.000Z",
                    }
                }
            }
        else:
            author = USERS.get(payload["author_id"])
            doc = {
                "data": payload,
                "includes": {"users": [author] if author else []},
                "matching_rules": [{"id": rid, "tag": r["tag"]} for rid, r in self.rules.items()],
            }
        return orjson.dumps(doc)

    def _problem(self, status: int, title: str, detail: str, **headers: str) -> Response:
        return JSONResponse(
            {"title": title, "detail": detail, "type": "about:blank", "status": status},
            status_code=status,
            headers=headers,
        )

    def _limit(self, request: Request, user: bool = False) -> Response | None:
        self.requests.append(f"{request.method} {request.url.path}?{request.url.query}")
        reset = str(int(time.time()) + 1)
        if self.fail_next:
            self.fail_next -= 1
            return self._problem(503, "Service Unavailable", "Service Unavailable")
        if self.rate_limit_next:
            self.rate_limit_next -= 1
            return self._problem(
                429,
                "Too Many Requests",
                "Too Many Requests",
                **{
                    "x-rate-limit-limit": "450",
                    "x-rate-limit-remaining": "0",
                    "x-rate-limit-reset": reset,
                },
            )
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token != (self.user_token if user else self.bearer):
            return self._problem(401, "Unauthorized", "Unauthorized")
        return None

    async def stream(self, request: Request) -> Response:
        if (r := self._limit(request)) is not None:
            return r
        self.connections.append(time.monotonic())
        if self.stream_status:
            status = self.stream_status.pop(0)
            if status == 429:
                return JSONResponse(
                    {
                        "title": "ConnectionException",
                        "detail": "This stream is currently at the maximum allowed connection"
                        " limit.",
                        "connection_issue": "TooManyConnections",
                        "type": "https://api.twitter.com/2/problems/streaming-connection",
                    },
                    status_code=429,
                    headers={"x-rate-limit-reset": str(int(time.time()))},
                )
            return self._problem(status, "Service Unavailable", "try later")
        drop = self.drop_after.pop(0) if self.drop_after else None
        stall = self.stall_after
        self.stall_after = None

        async def body() -> Any:
            sent = 0
            while self.clock < len(self.script):
                if drop is not None and sent >= drop:
                    for event, payload in self.script[self.clock : self.clock + self.outage]:
                        self._happen(event, payload)
                        self.clock += 1
                    self.outage = 0
                    return  # the connection drops
                if stall is not None and sent >= stall:
                    await asyncio.sleep(3600)  # nothing, not even keep-alives
                event, payload = self.script[self.clock]
                self._happen(event, payload)
                self.clock += 1
                sent += 1
                yield self._line(event, payload) + b"\r\n"
                yield b"\r\n"  # a keep-alive between posts, as X sends them
            while True:
                await asyncio.sleep(self.keepalive_s)
                yield b"\r\n"

        return StreamingResponse(body(), media_type="application/json")

    async def compliance_stream(self, request: Request) -> Response:
        """``GET /2/tweets/compliance/stream?partition=1..4[&backfill_minutes=0..5]``."""
        if (r := self._limit(request)) is not None:
            return r
        partition = request.query_params.get("partition", "")
        backfill = request.query_params.get("backfill_minutes", "0")
        invalid = {}
        if partition not in ("1", "2", "3", "4"):
            invalid["partition"] = [partition]
        if backfill not in ("0", "1", "2", "3", "4", "5"):
            invalid["backfill_minutes"] = [backfill]
        if invalid:
            return JSONResponse(
                {
                    "errors": [
                        {"parameters": invalid, "message": f"Invalid {next(iter(invalid))}"}
                    ],
                    "title": "Invalid Request",
                    "detail": "One or more parameters to your request was invalid.",
                    "type": "https://api.twitter.com/2/problems/invalid-request",
                },
                status_code=400,
            )
        if self.compliance_status:
            status = self.compliance_status.pop(0)
            return self._problem(status, "Service Unavailable", "try later")
        part = int(partition)
        drop = self.compliance_drop_after.pop(0) if self.compliance_drop_after else None
        since = time.time() - 60 * int(backfill)
        replay = [line for when, p, line in self.compliance_sent if p == part and when >= since]

        def happen(index: int) -> bytes:
            _, event = self.compliance_script.pop(index)
            line = orjson.dumps(event)
            self.compliance_sent.append((time.time(), part, line))
            return line

        async def body() -> Any:
            while self.clock < len(self.script):  # after the filtered stream's script
                await asyncio.sleep(self.keepalive_s)
                yield b"\r\n"
            for line in replay:  # backfill: what this partition sent in the last minutes
                yield line + b"\r\n"
            sent = 0
            while mine := [i for i, (p, _) in enumerate(self.compliance_script) if p == part]:
                if drop is not None and sent >= drop:
                    for index in reversed(mine[: self.compliance_outage]):
                        happen(index)  # while nobody listens
                    self.compliance_outage = 0
                    return  # the connection drops
                sent += 1
                yield happen(mine[0]) + b"\r\n"
            while True:
                await asyncio.sleep(self.keepalive_s)
                yield b"\r\n"

        return StreamingResponse(body(), media_type="application/json")

    async def get_rules(self, request: Request) -> Response:
        if (r := self._limit(request)) is not None:
            return r
        data = [{"id": rid, **rule} for rid, rule in self.rules.items()]
        meta = {"sent": "2024-11-23T13:53:20.000Z", "result_count": len(data)}
        return JSONResponse({"data": data, "meta": meta} if data else {"meta": meta})

    async def post_rules(self, request: Request) -> Response:
        if (r := self._limit(request)) is not None:
            return r
        body = await request.json()
        if "delete" in body:
            for rid in body["delete"].get("ids", []):
                self.rules.pop(rid, None)
            return JSONResponse(
                {"meta": {"sent": "now", "summary": {"deleted": len(body["delete"]["ids"])}}}
            )
        created, errors = [], []
        for rule in body.get("add", []):
            value = rule["value"]
            if len(value) > 512 or value.count("(") != value.count(")") or "~" in value:
                errors.append(
                    {
                        "value": value,
                        "details": ["Rules must be balanced and at most 512 characters"],
                        "title": "UnprocessableEntity",
                        "type": "https://api.twitter.com/2/problems/invalid-rules",
                    }
                )
                continue
            rid = str(next(_ids))
            self.rules[rid] = {"value": value, "tag": rule.get("tag", "")}
            created.append({"id": rid, "value": value, "tag": rule.get("tag", "")})
        summary = {
            "created": len(created),
            "not_created": len(errors),
            "valid": len(created),
            "invalid": len(errors),
        }
        doc: dict[str, Any] = {"meta": {"sent": "now", "summary": summary}}
        if created:
            doc["data"] = created
        if errors:
            doc["errors"] = errors
        return JSONResponse(doc, status_code=201 if created else 200)

    async def recent(self, request: Request) -> Response:
        if (r := self._limit(request)) is not None:
            return r
        since = request.query_params.get("since_id")
        size = int(request.query_params.get("max_results", 10))
        if not 10 <= size <= 100:
            return self._problem(400, "Invalid Request", "max_results must be in [10, 100]")
        if since is not None and not (re.fullmatch(r"[0-9]{1,19}", since) and int(since) < 2**63):
            return JSONResponse(
                {
                    "errors": [
                        {
                            "parameters": {"since_id": [since]},
                            "message": f"The `since_id` query parameter value [{since}] is not"
                            " valid",
                        }
                    ],
                    "title": "Invalid Request",
                    "detail": "One or more parameters to your request was invalid.",
                    "type": "https://api.twitter.com/2/problems/invalid-request",
                },
                status_code=400,
            )

        def key(t: str) -> tuple[int, str]:
            return len(t), t

        ids = sorted(
            (i for i in self.tweets if not since or key(i) > key(since)), key=key, reverse=True
        )
        start = int(request.query_params.get("next_token", "0") or 0)
        page = ids[start : start + size]
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta |= {"newest_id": page[0], "oldest_id": page[-1]}
        if start + size < len(ids):
            meta["next_token"] = str(start + size)
        if not page:
            return JSONResponse({"meta": meta})
        tweets = [self.tweets[i] for i in page]
        authors = {t["author_id"] for t in tweets}
        doc = {
            "data": tweets,
            "includes": {"users": [USERS[a] for a in authors if a in USERS]},
            "meta": meta,
        }
        # ASCII-escaped by the standard module: a lone surrogate (a truncated emoji) or an
        # integer over 64 bits goes out as JSON can write it.
        return Response(json.dumps(doc), media_type="application/json")

    async def post_tweet(self, request: Request) -> Response:
        if (r := self._limit(request, user=True)) is not None:
            return r
        body = await request.json()
        parent = (body.get("reply") or {}).get("in_reply_to_tweet_id")
        if parent and parent not in self.tweets:
            return self._problem(400, "Invalid Request", "in_reply_to_tweet_id not found")
        new = tweet(body["text"], BRAND_ID, [("replied_to", parent)] if parent else None)
        if parent:
            new["conversation_id"] = self.tweets[parent]["conversation_id"]
        self.tweets[new["id"]] = new
        return JSONResponse(
            {
                "data": {
                    "id": new["id"],
                    "text": new["text"],
                    "edit_history_tweet_ids": [new["id"]],
                }
            },
            status_code=201,
        )

    async def like(self, request: Request) -> Response:
        if (r := self._limit(request, user=True)) is not None:
            return r
        tweet_id = (await request.json())["tweet_id"]
        self.likes.add((request.path_params["uid"], tweet_id))
        return JSONResponse({"data": {"liked": True}})

    async def retweet(self, request: Request) -> Response:
        if (r := self._limit(request, user=True)) is not None:
            return r
        tweet_id = (await request.json())["tweet_id"]
        self.retweets.add((request.path_params["uid"], tweet_id))
        return JSONResponse({"data": {"retweeted": True}})

    def direct(self, sender: str, text: str, to: str = BRAND_ID) -> dict[str, Any]:
        """``sender`` writes ``text`` to ``to`` (a MessageCreate in their conversation)."""
        low, high = sorted((sender, to), key=lambda i: (len(i), i))
        event = {
            "id": str(next(_ids)),
            "event_type": "MessageCreate",
            "text": text,
            "sender_id": sender,
            "dm_conversation_id": f"{low}-{high}",
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        }
        self.dm_events.append(event)
        return event

    async def dm(self, request: Request) -> Response:
        if (r := self._limit(request, user=True)) is not None:
            return r
        pid, text = request.path_params["pid"], (await request.json()).get("text")
        if not isinstance(text, str) or not text:
            return self._problem(400, "Invalid Request", "One or more parameters are invalid.")
        self.dms.append((pid, text))
        event = self.direct(BRAND_ID, text, to=pid)
        return JSONResponse(
            {"data": {"dm_conversation_id": event["dm_conversation_id"],
                      "dm_event_id": event["id"]}},
            status_code=201,
        )  # fmt: skip

    async def list_dm_events(self, request: Request) -> Response:
        """``GET /2/dm_events``: newest first, ``max_results`` 1-100, ``pagination_token``,
        only the requested ``dm_event.fields`` (``id``, ``event_type``, ``text`` always),
        ``expansions=sender_id`` → ``includes.users`` with the requested ``user.fields``."""
        if (r := self._limit(request, user=True)) is not None:
            return r
        q = request.query_params
        size = int(q.get("max_results") or 100)
        if not 1 <= size <= 100:
            return self._problem(400, "Invalid Request", "The `max_results` query parameter"
                                 " value is not between 1 and 100")  # fmt: skip
        kinds = set((q.get("event_types") or "MessageCreate").split(","))
        newest = [e for e in reversed(self.dm_events) if e["event_type"] in kinds]
        start = int((q.get("pagination_token") or "p0").removeprefix("p"))
        page = newest[start : start + size]
        wanted = {"id", "event_type", "text"} | set((q.get("dm_event.fields") or "").split(","))
        data = [{k: v for k, v in e.items() if k in wanted} for e in page]
        doc: dict[str, Any] = {"meta": {"result_count": len(data)}}
        if data:
            doc["data"] = data
        if "sender_id" in (q.get("expansions") or "").split(","):
            fields = {"id", "name", "username"} & set(
                ("id,name," + (q.get("user.fields") or "")).split(",")
            )
            senders = dict.fromkeys(e["sender_id"] for e in page)
            doc["includes"] = {
                "users": [
                    {k: v for k, v in USERS[s].items() if k in fields}
                    for s in senders
                    if s in USERS
                ]
            }
        if start + size < len(newest):
            doc["meta"]["next_token"] = f"p{start + size}"
        if start:
            doc["meta"]["previous_token"] = f"p{max(0, start - size)}"
        return JSONResponse(doc)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/2/tweets/search/stream", self.stream),
                Route("/2/tweets/compliance/stream", self.compliance_stream),
                Route("/2/tweets/search/stream/rules", self.get_rules),
                Route("/2/tweets/search/stream/rules", self.post_rules, methods=["POST"]),
                Route("/2/tweets/search/recent", self.recent),
                Route("/2/tweets", self.post_tweet, methods=["POST"]),
                Route("/2/users/{uid}/likes", self.like, methods=["POST"]),
                Route("/2/users/{uid}/retweets", self.retweet, methods=["POST"]),
                Route("/2/dm_conversations/with/{pid}/messages", self.dm, methods=["POST"]),
                Route("/2/dm_events", self.list_dm_events),
            ]
        )
