"""Protocol-faithful local fakes of Zendesk, Help Scout and a webhook receiver (ASGI).

Real paths, bodies, status codes, error documents and rate-limit headers:

* Zendesk Support API v2: basic auth ``{email}/token:{token}``; ``POST
  /api/v2/tickets.json`` → 201 ``{"ticket": {...}}`` + ``Location``; ``Idempotency-Key``
  repeats answer the first ticket with ``x-zendesk-api-idempotency-lookup: hit`` (a
  different body under the same key is a 400 ``IdempotentRequestError``); validation is a
  422 ``{"error": "RecordInvalid", "description", "details"}``; over the limit a 429 with
  ``Retry-After``; ``GET /api/v2/tickets/{id}/comments.json?include=users``.
* Help Scout Mailbox API 2.0: ``POST /v2/oauth2/token`` (client credentials); ``POST
  /v2/conversations`` → 201, empty body, ``Resource-ID`` + ``Location``; validation a 400
  ``{"logref", "message", "_embedded": {"errors": [{"path", "message"}]}}``; a 429 with
  ``X-RateLimit-Retry-After``; every answer carries ``X-RateLimit-Limit-Minute`` and
  ``X-RateLimit-Remaining-Minute``; ``GET /v2/conversations?tag=``, ``.../{id}/threads``.

Faults are queued per write: ``"429"``, ``"500"``, ``"timeout"`` (accepted and stored,
the answer comes too late), ``"drop"`` (accepted, then the connection is cut).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import orjson

from earful.handoff import webhook

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Cut(Exception):
    """Raised by a fake to drop the connection mid-answer."""


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body or b"{}")


async def _read(scope: dict[str, Any], receive: Any) -> Request:
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return Request(
        scope["method"],
        scope["path"],
        parse_qs(scope.get("query_string", b"").decode()),
        {k.decode().lower(): v.decode() for k, v in scope["headers"]},
        body,
    )


async def _send(send: Any, code: int, doc: Any, headers: dict[str, str], drop: bool) -> None:
    payload = b"" if doc is None else orjson.dumps(doc)
    # A drop promises one byte more than it sends: the client sees a cut, not an answer.
    raw = [(b"content-length", str(len(payload) + drop).encode())]
    if doc is not None:
        raw.append((b"content-type", b"application/json; charset=utf-8"))
    raw += [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": code, "headers": raw})
    if drop:
        raise ConnectionAbortedError("fake helpdesk: connection cut after accepting")
    await send({"type": "http.response.body", "body": payload})


@dataclass
class _Fake:
    """Shared plumbing: a fault queue for writes, a fixed per-minute window."""

    limit: int = 700
    window: float = 60.0
    hang_s: float = 3.0
    faults: deque[str] = field(default_factory=deque)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _window_start: float = field(default_factory=time.monotonic)
    _used: int = 0

    def _count(self) -> tuple[bool, int]:
        now = time.monotonic()
        if now - self._window_start >= self.window:
            self._window_start, self._used = now, 0
        if self._used >= self.limit:
            return True, 0
        self._used += 1
        return False, self.limit - self._used

    def _reset_in(self) -> int:
        return max(1, int(self.window - (time.monotonic() - self._window_start) + 0.999))

    async def handle(self, req: Request) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        req = await _read(scope, receive)
        self.requests.append((req.method, req.path))
        fault = self.faults.popleft() if self.faults and req.method == "POST" else None
        if fault in ("429", "500"):
            code, doc, headers = self.fault(int(fault))
            await _send(send, code, doc, headers, False)
            return
        code, doc, headers = await self.handle(req)
        if fault == "timeout":
            await asyncio.sleep(self.hang_s)
        await _send(send, code, doc, headers, fault == "drop")

    def fault(self, code: int) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError


# ------------------------------------------------------------------ Zendesk


@dataclass
class FakeZendesk(_Fake):
    email: str = "agent@acme.example"
    token: str = "zd-token"
    base: str = "https://acme.zendesk.com"
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    keys: dict[str, tuple[bytes, int]] = field(default_factory=dict)
    created: int = 0
    _ids: Any = field(default_factory=lambda: itertools.count(35436))
    _agent_id: int = 0

    def __post_init__(self) -> None:
        self._agent_id = self._user("Zed Agent", "zed@acme.example", "agent")

    def _user(self, name: str, email: str, role: str) -> int:
        for uid, u in self.users.items():
            if u["email"] == email:
                return uid
        uid = next(self._ids)
        self.users[uid] = {"id": uid, "name": name, "email": email, "role": role}
        return uid

    def _rate(self, remaining: int) -> dict[str, str]:
        return {"x-rate-limit": str(self.limit), "x-rate-limit-remaining": str(remaining)}

    def fault(self, code: int) -> tuple[int, Any, dict[str, str]]:
        if code == 429:
            return (
                429,
                {
                    "error": "APIRateLimitExceeded",
                    "description": "Number of allowed API requests per minute exceeded",
                },
                {"retry-after": "1", **self._rate(0)},
            )
        return 500, {"error": "InternalError", "description": "Something went wrong"}, {}

    def add_comment(self, ticket_id: int, body: str, public: bool = True, by: str = "agent") -> int:
        """A helpdesk agent (``by="agent"``) or the requester writes on the ticket."""
        author = self._agent_id if by == "agent" else self.tickets[ticket_id]["requester_id"]
        cid = next(self._ids)
        self.comments[ticket_id].append(
            {
                "id": cid,
                "type": "Comment",
                "author_id": author,
                "body": body,
                "html_body": f"<p>{body}</p>",
                "plain_body": body,
                "public": public,
                "attachments": [],
                "created_at": _iso(),
            }
        )
        return cid

    async def handle(self, req: Request) -> tuple[int, Any, dict[str, str]]:
        expected = base64.b64encode(f"{self.email}/token:{self.token}".encode()).decode()
        if req.headers.get("authorization") != f"Basic {expected}":
            return 401, {"error": "Couldn't authenticate you"}, {}
        over, remaining = self._count()
        if over:
            return (
                429,
                {"error": "APIRateLimitExceeded"},
                {"retry-after": str(self._reset_in()), **self._rate(0)},
            )
        rate = self._rate(remaining)
        if req.method == "POST" and req.path == "/api/v2/tickets.json":
            key = req.headers.get("idempotency-key")
            if key and key in self.keys:
                body, tid = self.keys[key]
                if body != req.body:
                    return (
                        400,
                        {
                            "error": "IdempotentRequestError",
                            "description": "Request parameters do not match the original request",
                        },
                        rate,
                    )
                return (
                    201,
                    {"ticket": self.tickets[tid]},
                    {**rate, "x-zendesk-api-idempotency-lookup": "hit"},
                )
            code, doc = self._create(req.json())
            if code == 201 and key:
                self.keys[key] = (req.body, doc["ticket"]["id"])
            headers = dict(rate)
            if code == 201:
                headers["location"] = doc["ticket"]["url"]
                headers["x-zendesk-api-idempotency-lookup"] = "miss"
            return code, doc, headers
        m = re.fullmatch(r"/api/v2/tickets/(\d+)/comments\.json", req.path)
        if req.method == "GET" and m:
            tid = int(m.group(1))
            if tid not in self.tickets:
                return 404, {"error": "RecordNotFound", "description": "Not found"}, rate
            comments = self.comments[tid]
            doc: dict[str, Any] = {
                "comments": comments,
                "next_page": None,
                "previous_page": None,
                "count": len(comments),
            }
            if "users" in ",".join(req.query.get("include", [])):
                ids = {c["author_id"] for c in comments}
                doc["users"] = [self.users[i] for i in sorted(ids)]
            return 200, doc, rate
        return 404, {"error": "InvalidEndpoint", "description": "Not found"}, rate

    def _create(self, doc: Any) -> tuple[int, Any]:
        t = doc.get("ticket") if isinstance(doc, dict) else None
        if not isinstance(t, dict):
            return 400, {"error": "Unprocessable Entity", "description": "ticket is required"}
        details: dict[str, list[dict[str, str]]] = {}
        comment = t.get("comment") or {}
        if not str(comment.get("body") or "").strip():
            details["base"] = [
                {"description": "Description: cannot be blank", "error": "BlankValue"}
            ]
        req = t.get("requester") or {}
        if not EMAIL.match(str(req.get("email") or "")):
            details["requester"] = [
                {
                    "description": "Requester: Email is not properly formatted",
                    "error": "InvalidValue",
                }
            ]
        if details:
            return 422, {
                "error": "RecordInvalid",
                "description": "Record validation errors",
                "details": details,
            }
        requester = self._user(str(req.get("name") or req["email"]), str(req["email"]), "end-user")
        tid = next(self._ids)
        ticket = {
            "id": tid,
            "url": f"{self.base}/api/v2/tickets/{tid}.json",
            "external_id": t.get("external_id"),
            "subject": t.get("subject"),
            "raw_subject": t.get("subject"),
            "description": comment["body"],
            "status": "new",
            "priority": None,
            "requester_id": requester,
            "submitter_id": self._agent_id,
            "tags": sorted(set(t.get("tags") or [])),
            "created_at": _iso(),
            "updated_at": _iso(),
        }
        self.tickets[tid] = ticket
        self.comments[tid] = []
        self.comments[tid].append(
            {
                "id": next(self._ids),
                "type": "Comment",
                "author_id": self._agent_id,
                "body": comment["body"],
                "plain_body": comment["body"],
                "public": bool(comment.get("public", True)),
                "created_at": _iso(),
            }
        )
        self.created += 1
        return 201, {"ticket": ticket}


# ------------------------------------------------------------------ Help Scout


@dataclass
class FakeHelpScout(_Fake):
    client_id: str = "hs-id"
    client_secret: str = "hs-secret"
    mailbox_id: int = 85
    limit: int = 200
    conversations: dict[int, dict[str, Any]] = field(default_factory=dict)
    threads: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    created: int = 0
    rejected: int = 0  # 429s answered for the quota (not injected faults)
    token_requests: int = 0
    _ids: Any = field(default_factory=lambda: itertools.count(2391938111))

    def _rate(self, remaining: int) -> dict[str, str]:
        return {
            "x-ratelimit-limit-minute": str(self.limit),
            "x-ratelimit-remaining-minute": str(remaining),
        }

    def fault(self, code: int) -> tuple[int, Any, dict[str, str]]:
        if code == 429:
            return (
                429,
                {"logref": "Too many requests", "message": "Rate limit exceeded"},
                {"x-ratelimit-retry-after": "1", **self._rate(0)},
            )
        return 500, {"logref": "Internal error", "message": "Something went wrong"}, {}

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def add_thread(self, conv_id: int, body: str, kind: str = "message") -> int:
        """A Help Scout user replies (``message``), writes a ``note``, or the ``customer``."""
        conv = self.conversations[conv_id]
        tid = next(self._ids)
        who = (
            {"type": "customer", "email": conv["primaryCustomer"]["email"], "first": "Alice"}
            if kind == "customer"
            else {"type": "user", "email": "hana@acme.example", "first": "Hana", "last": "Lee"}
        )
        self.threads[conv_id].append(
            {
                "id": tid,
                "type": kind,
                "status": "active",
                "state": "published",
                "body": body,
                "createdBy": who,
                "createdAt": _iso(),
            }
        )
        return tid

    async def handle(self, req: Request) -> tuple[int, Any, dict[str, str]]:
        if req.path == "/v2/oauth2/token" and req.method == "POST":
            form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
            self.token_requests += 1
            if form.get("grant_type") != "client_credentials":
                return 400, {"error": "unsupported_grant_type"}, {}
            if (form.get("client_id"), form.get("client_secret")) != (
                self.client_id,
                self.client_secret,
            ):
                return (
                    401,
                    {"error": "invalid_client", "error_description": "Bad client credentials"},
                    {},
                )
            token = f"hs-{next(self._ids)}"
            self.tokens.add(token)
            return 200, {"token_type": "bearer", "access_token": token, "expires_in": 7200}, {}
        auth = req.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return 401, {"logref": "Unauthorized", "message": "Invalid or expired token"}, {}
        over, remaining = self._count()
        if over:
            return (
                429,
                {"logref": "Too many requests"},
                {"x-ratelimit-retry-after": str(self._reset_in()), **self._rate(0)},
            )
        rate = self._rate(remaining)
        if req.path == "/v2/conversations" and req.method == "POST":
            return self._create(req.json(), rate)
        if req.path == "/v2/conversations" and req.method == "GET":
            tag = (req.query.get("tag") or [""])[0]
            found = [c for c in self.conversations.values() if tag in c["tags"]]
            page = {"size": 25, "totalElements": len(found), "totalPages": 1, "number": 1}
            return 200, {"_embedded": {"conversations": found}, "page": page}, rate
        m = re.fullmatch(r"/v2/conversations/(\d+)/threads", req.path)
        if m and req.method == "GET":
            cid = int(m.group(1))
            if cid not in self.conversations:
                return 404, {"logref": "Not found", "message": "Conversation not found"}, rate
            items = sorted(self.threads[cid], key=lambda t: -int(t["id"]))  # newest first
            page = {"size": 50, "totalElements": len(items), "totalPages": 1, "number": 1}
            return 200, {"_embedded": {"threads": items}, "page": page}, rate
        return 404, {"logref": "Not found", "message": "No such resource"}, rate

    def _create(self, doc: Any, rate: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        errors = []
        customer = doc.get("customer") or {}
        if not EMAIL.match(str(customer.get("email") or "")):
            errors.append(
                {
                    "path": "customer.email",
                    "message": "must be a well-formed email address",
                    "source": "JSON",
                    "rejectedValue": customer.get("email"),
                }
            )
        if doc.get("mailboxId") != self.mailbox_id:
            errors.append({"path": "mailboxId", "message": "Invalid mailbox", "source": "JSON"})
        if not doc.get("subject"):
            errors.append({"path": "subject", "message": "may not be empty", "source": "JSON"})
        if not doc.get("threads"):
            errors.append({"path": "threads", "message": "may not be empty", "source": "JSON"})
        if errors:
            return (
                400,
                {
                    "logref": "Validation error",
                    "message": "Invalid request",
                    "_embedded": {"errors": errors},
                },
                rate,
            )
        cid = next(self._ids)
        self.conversations[cid] = {
            "id": cid,
            "number": 1000 + len(self.conversations),
            "subject": doc["subject"],
            "mailboxId": self.mailbox_id,
            "status": doc.get("status", "active"),
            "type": doc.get("type", "email"),
            "tags": [str(t).lower() for t in doc.get("tags") or []],
            "primaryCustomer": {"email": customer["email"]},
            "createdAt": _iso(),
        }
        self.threads[cid] = []
        for t in doc["threads"]:
            tid = next(self._ids)
            who = (
                {"type": "customer", "email": customer["email"]}
                if t["type"] == "customer"
                else {"type": "user", "email": "api@acme.example"}
            )
            self.threads[cid].append(
                {
                    "id": tid,
                    "type": t["type"],
                    "body": t.get("text", ""),
                    "createdBy": who,
                    "createdAt": _iso(),
                }
            )
        self.created += 1
        url = f"https://api.helpscout.net/v2/conversations/{cid}"
        return 201, None, {**rate, "resource-id": str(cid), "location": url}


# ------------------------------------------------------------------ a webhook receiver


@dataclass
class FakeReceiver(_Fake):
    """A system that takes our signed webhook: checks the signature, dedupes deliveries."""

    secret: str = "hook-secret"
    deliveries: dict[str, dict[str, Any]] = field(default_factory=dict)
    refused: int = 0

    def fault(self, code: int) -> tuple[int, Any, dict[str, str]]:
        if code == 429:
            return 429, {"error": "slow down"}, {"retry-after": "0.2"}
        return 502, {"error": "bad gateway"}, {}

    async def handle(self, req: Request) -> tuple[int, Any, dict[str, str]]:
        ok = webhook.verify(
            self.secret,
            req.headers.get(webhook.TIMESTAMP.lower()),
            req.headers.get(webhook.SIGNATURE.lower()),
            req.body,
        )
        if not ok:
            self.refused += 1
            return 401, {"error": "bad signature"}, {}
        delivery = req.headers.get(webhook.DELIVERY.lower(), "")
        if delivery not in self.deliveries:
            self.deliveries[delivery] = req.json()
        n = list(self.deliveries).index(delivery) + 1
        return 200, {"id": f"case-{n}", "url": f"https://cases.example/{n}"}, {}
