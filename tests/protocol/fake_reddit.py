"""A fake Reddit: the OAuth2 token endpoint and the listing/act endpoints of oauth.reddit.com,
with the real ``Listing`` / ``Thing`` shapes (``t1`` comments, ``t3`` submissions, fullnames,
``after`` paging), ``X-Ratelimit-Used / -Remaining / -Reset`` on every API answer, 429 and
5xx on demand, and the ``{"json": {"errors": [], "data": {"things": [...]}}}`` answers.

Tests add things with :meth:`submit` / :meth:`comment`, edit or delete them, and read the
server's state (``things``, ``votes``, ``messages``) to check the connector's acts.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

CLIENT_ID = "p-jcoLKBynTLew"
CLIENT_SECRET = "gko_LXELoV07ZBNUXrvWZfzE3aI"
_t3 = itertools.count(int("1gx0a00", 36))
_t1 = itertools.count(int("lyb0000", 36))
_clock = itertools.count(1732370000)


def b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out or "0"


def submission(
    sub: str, title: str, selftext: str = "", author: str = "traveller", **extra: Any
) -> dict[str, Any]:
    ident = b36(next(_t3))
    created = float(next(_clock))
    return {
        "kind": "t3",
        "data": {
            "approved_at_utc": None,
            "subreddit": sub,
            "selftext": selftext,
            "author_fullname": f"t2_{abs(hash(author)) % 10**8:x}",
            "saved": False,
            "title": title,
            "subreddit_name_prefixed": f"r/{sub}",
            "name": f"t3_{ident}",
            "ups": 1,
            "score": 1,
            "edited": False,
            "is_self": True,
            "created": created,
            "created_utc": created,
            "removed_by_category": None,
            "link_flair_text": None,
            "id": ident,
            "author": author,
            "num_comments": 0,
            "permalink": f"/r/{sub}/comments/{ident}/{title.lower().replace(' ', '_')[:30]}/",
            "url": f"https://www.reddit.com/r/{sub}/comments/{ident}/",
            "subreddit_id": "t5_2qh1i",
            "over_18": False,
            **extra,
        },
    }


def comment(parent: dict[str, Any], body: str, author: str = "commenter") -> dict[str, Any]:
    ident = b36(next(_t1))
    created = float(next(_clock))
    pdata = parent["data"]
    link_id = pdata["name"] if parent["kind"] == "t3" else pdata["link_id"]
    sub = pdata["subreddit"]
    return {
        "kind": "t1",
        "data": {
            "subreddit_id": "t5_2qh1i",
            "link_id": link_id,
            "link_title": "",
            "author": author,
            "author_fullname": f"t2_{abs(hash(author)) % 10**8:x}",
            "body": body,
            "body_html": f'&lt;div class="md"&gt;&lt;p&gt;{body}&lt;/p&gt;&lt;/div&gt;',
            "edited": False,
            "parent_id": pdata["name"],
            "score": 1,
            "ups": 1,
            "name": f"t1_{ident}",
            "id": ident,
            "created": created,
            "created_utc": created,
            "subreddit": sub,
            "permalink": f"/r/{sub}/comments/{link_id[3:]}/_/{ident}/",
            "depth": 0,
            "stickied": False,
            "replies": "",
        },
    }


def listing(children: list[dict[str, Any]], after: str | None) -> dict[str, Any]:
    return {
        "kind": "Listing",
        "data": {
            "after": after,
            "dist": len(children),
            "modhash": "",
            "geo_filter": "",
            "children": children,
            "before": None,
        },
    }


@dataclass
class FakeReddit:
    username: str = "acme_support"
    password: str = "hunter2"
    refresh_token: str = "177-refresh"
    token_lifetime: int = 86400
    things: dict[str, dict[str, Any]] = field(default_factory=dict)  # fullname -> thing
    votes: dict[str, int] = field(default_factory=dict)
    messages: list[dict[str, str]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    token_grants: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    rate_limit_next: int = 0  # answer 429 this many times
    fail_next: int = 0  # answer 503 this many times
    fail_after: int | None = None  # after this many more API requests, answer 502 forever
    remaining: float = 600.0  # X-Ratelimit-Remaining after the next request is counted
    reset_s: int = 1
    revoke_tokens: bool = False  # the next API call finds its token expired (401)
    broken: list[Any] = field(default_factory=list)  # children added, as is, to first pages
    answers: list[Any] = field(default_factory=list)  # bodies for the next listing requests

    # ---------------------------------------------------------------- state

    def add(self, thing: dict[str, Any]) -> dict[str, Any]:
        self.things[thing["data"]["name"]] = thing
        return thing

    def submit(self, sub: str, title: str, selftext: str = "", **kw: Any) -> dict[str, Any]:
        return self.add(submission(sub, title, selftext, **kw))

    def comment(self, parent: dict[str, Any], body: str, author: str = "commenter") -> Any:
        return self.add(comment(parent, body, author))

    def edit(self, thing: dict[str, Any], text: str) -> None:
        key = "body" if thing["kind"] == "t1" else "selftext"
        thing["data"][key] = text
        thing["data"]["edited"] = float(next(_clock))

    def delete(self, thing: dict[str, Any], by_mod: bool = False) -> None:
        """Author deletion: ``[deleted]`` body and author; moderator removal: ``[removed]``."""
        data = thing["data"]
        if thing["kind"] == "t1":
            data["body"] = "[removed]" if by_mod else "[deleted]"
        else:
            data["selftext"] = "[removed]" if by_mod else "[deleted]"
            if by_mod:
                data["removed_by_category"] = "moderator"
        if not by_mod:
            data["author"] = "[deleted]"
            data.pop("author_fullname", None)

    # ---------------------------------------------------------------- HTTP

    def _headers(self) -> dict[str, str]:
        used = 600 - self.remaining
        return {
            "x-ratelimit-used": f"{used:.0f}",
            "x-ratelimit-remaining": f"{self.remaining:.1f}",
            "x-ratelimit-reset": str(self.reset_s),
        }

    def _json(self, doc: Any, status: int = 200) -> Response:
        # The standard module, ASCII-escaped: a lone surrogate ("\ud83d" from a cut emoji)
        # or an integer over 64 bits goes out as JSON can write it.
        return Response(
            json.dumps(doc), status, headers=self._headers(), media_type="application/json"
        )

    def _gate(self, request: Request) -> Response | None:
        self.requests.append(f"{request.method} {request.url.path}?{request.url.query}")
        if self.fail_after is not None:
            if self.fail_after <= 0:
                return JSONResponse({"message": "Bad Gateway", "error": 502}, status_code=502)
            self.fail_after -= 1
        if self.fail_next:
            self.fail_next -= 1
            return JSONResponse({"message": "Service Unavailable", "error": 503}, 503)
        if self.rate_limit_next:
            self.rate_limit_next -= 1
            return JSONResponse(
                {"message": "Too Many Requests", "error": 429},
                status_code=429,
                headers={
                    "x-ratelimit-used": "600",
                    "x-ratelimit-remaining": "0.0",
                    "x-ratelimit-reset": str(self.reset_s),
                },
            )
        auth = request.headers.get("authorization", "")
        token = auth.split(" ", 1)[1] if auth.lower().startswith("bearer ") else ""
        if self.revoke_tokens:
            self.revoke_tokens = False
            self.tokens.clear()
        if token not in self.tokens:
            return JSONResponse({"message": "Unauthorized", "error": 401}, status_code=401)
        # One request of the window used; a spent window starts again (the client waited).
        self.remaining = 599.0 if self.remaining <= 0 else self.remaining - 1
        return None

    async def access_token(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if auth != f"Basic {expected}":
            return JSONResponse({"message": "Unauthorized", "error": 401}, status_code=401)
        form = await request.form()
        grant = form.get("grant_type")
        ok = (
            grant == "password"
            and form.get("username") == self.username
            and form.get("password") == self.password
        ) or (grant == "refresh_token" and form.get("refresh_token") == self.refresh_token)
        self.token_grants.append(str(grant))
        if not ok:
            return JSONResponse({"error": "invalid_grant"})  # Reddit says so with a 200
        token = f"eyJhbGciOi.{len(self.token_grants)}.{time.time_ns()}"
        self.tokens.add(token)
        return JSONResponse(
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": self.token_lifetime,
                "scope": "*",
            }
        )

    def _page(self, request: Request, items: list[dict[str, Any]]) -> Response:
        if self.answers:
            return self._json(self.answers.pop(0))
        limit = min(100, int(request.query_params.get("limit", 25)))
        items = sorted(items, key=lambda t: int(t["data"]["id"], 36), reverse=True)
        after = request.query_params.get("after")
        start = 0
        if after:
            names = [t["data"]["name"] for t in items]
            start = names.index(after) + 1 if after in names else len(items)
        page = items[start : start + limit]
        more = start + limit < len(items)
        after = page[-1]["data"]["name"] if more and page else None
        return self._json(listing(page + self.broken if not start else page, after))

    async def new(self, request: Request) -> Response:
        if (r := self._gate(request)) is not None:
            return r
        sub = request.path_params["sub"].lower()
        return self._page(
            request,
            [
                t
                for t in self.things.values()
                if t["kind"] == "t3"
                and t["data"]["subreddit"].lower() == sub
                and not t["data"].get("removed_by_category")
            ],
        )

    async def comments(self, request: Request) -> Response:
        if (r := self._gate(request)) is not None:
            return r
        sub = request.path_params["sub"].lower()
        return self._page(
            request,
            [
                t
                for t in self.things.values()
                if t["kind"] == "t1" and t["data"]["subreddit"].lower() == sub
            ],
        )

    async def search(self, request: Request) -> Response:
        if (r := self._gate(request)) is not None:
            return r
        sub = request.path_params.get("sub")
        restrict = request.query_params.get("restrict_sr") in ("1", "true", "on")
        words = request.query_params.get("q", "").lower().split()
        hits = [
            t
            for t in self.things.values()
            if t["kind"] == "t3"
            and (not (sub and restrict) or t["data"]["subreddit"].lower() == sub.lower())
            and all(w in (t["data"]["title"] + " " + t["data"]["selftext"]).lower() for w in words)
        ]
        return self._page(request, hits)

    async def info(self, request: Request) -> Response:
        if (r := self._gate(request)) is not None:
            return r
        names = [n for n in request.query_params.get("id", "").split(",") if n]
        if len(names) > 100:
            return self._json({"message": "Bad Request", "error": 400}, 400)
        return self._json(listing([self.things[n] for n in names if n in self.things], None))

    async def post_comment(self, request: Request) -> Response:
        if (r := self._gate(request)) is not None:
            return r
        form = await request.form()
        parent = self.things.get(str(form.get("thing_id")))
        if parent is None:
            return self._json(
                {"json": {"errors": [["NO_THING_ID", "no thing id", "parent"]], "data": {}}}
            )
        if not form.get("text"):
            return self._json({"json": {"errors": [["NO_TEXT", "we need something here", "text"]]}})
        new = self.comment(parent, str(form["text"]), author=self.username)
        return self._json({"json": {"errors": [], "data": {"things": [new]}}})

    async def vote(self, request: Request) -> Response:
        if (r := self._gate(request)) is not None:
            return r
        form = await request.form()
        fullname = str(form.get("id"))
        if fullname not in self.things:
            return self._json({"message": "Bad Request", "error": 400}, 400)
        self.votes[fullname] = int(str(form.get("dir", "0")))
        return self._json({})

    async def compose(self, request: Request) -> Response:
        if (r := self._gate(request)) is not None:
            return r
        form = await request.form()
        self.messages.append({k: str(v) for k, v in form.items()})
        return self._json({"json": {"errors": []}})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/v1/access_token", self.access_token, methods=["POST"]),
                Route("/r/{sub}/new", self.new),
                Route("/r/{sub}/comments", self.comments),
                Route("/r/{sub}/search", self.search),
                Route("/search", self.search),
                Route("/api/info", self.info),
                Route("/api/comment", self.post_comment, methods=["POST"]),
                Route("/api/vote", self.vote, methods=["POST"]),
                Route("/api/compose", self.compose, methods=["POST"]),
            ]
        )
