"""Helpdesk handoff: a Zendesk ticket or a Help Scout conversation, and its updates back.

Both senders plug into the outbound worker (:class:`~earful.engagement.worker.Sender`).

**Zendesk** (Support API v2, API-token basic auth): ``POST /api/v2/tickets.json`` with
``{"ticket": {subject, comment: {body, public}, requester: {name, email}, external_id,
tags}}``; 201 answers ``{"ticket": {..., "id"}}``. The job's key travels as
``Idempotency-Key`` (Zendesk answers a repeat with the first ticket), so a resend after a
timeout is safe. ``external_id`` is our conversation's URL: the ticket links back to us,
and :class:`~earful.models.Handoff` stores the ticket id: both ways.

**Help Scout** (Mailbox API 2.0, OAuth2 client credentials): ``POST /v2/oauth2/token``,
then ``POST /v2/conversations``; 201 answers with an empty body and the new id in
``Resource-ID`` (and ``Location``). Help Scout has no idempotency key: every conversation
we create carries the tag ``earful-h<handoff id>``, and a resend first looks it up
(``GET /v2/conversations?tag=...``); found means already created.

The ticket gets the *team* transcript (every post with its labels, every internal note,
the tags) as an internal comment / note, so nobody on the helpdesk side asks the
customer again; Help Scout also gets the customer-visible transcript as the customer
thread. Updates are pulled by :mod:`earful.handoff.sync`.

Errors: 429 waits for ``Retry-After`` (Zendesk) / ``X-RateLimit-Retry-After`` (Help
Scout), and when Help Scout's ``X-RateLimit-Remaining-Minute`` reaches 0 the next call
is deferred a minute without being sent; 5xx retries with backoff; 401/403 are
credentials; a validation error (Zendesk ``RecordInvalid`` 422, Help Scout 400
``_embedded.errors``) fails the job with the field names the helpdesk gave.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from earful.connectors.base import ActionError, AuthError, Retry, Sent
from earful.connectors.http import MAX_WAIT_S
from earful.engagement.worker import Work

ZENDESK_CREATED_COMMENTS = 1  # comments the ticket is born with (ours)
HELPSCOUT_CREATED_THREADS = 2  # threads the conversation is born with (ours)
QUOTA_WINDOW_S = 60.0  # Help Scout counts requests per minute


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return min(MAX_WAIT_S, max(0.0, float(value.strip())))
    except ValueError:
        return None


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def zendesk_error(response: httpx.Response) -> str:
    """``RecordInvalid: Record validation errors (requester: Email is not ...)``."""
    doc = _json(response)
    if not isinstance(doc, dict):
        return f"Zendesk HTTP {response.status_code}"
    name = doc.get("error")
    if isinstance(name, dict):  # {"error": {"title", "message"}} on some endpoints
        name = name.get("title") or name.get("message")
    text = f"Zendesk {name or response.status_code}"
    if doc.get("description"):
        text += f": {doc['description']}"
    details = doc.get("details")
    if isinstance(details, dict) and details:
        parts = []
        for fld, problems in details.items():
            for p in problems if isinstance(problems, list) else [problems]:
                desc = p.get("description") if isinstance(p, dict) else str(p)
                parts.append(f"{fld}: {desc}")
        text += f" ({'; '.join(parts)})"
    return text[:480]


def helpscout_error(response: httpx.Response) -> str:
    """``Help Scout Validation error: ... (customer.email: must be ...)``."""
    doc = _json(response)
    if not isinstance(doc, dict):
        return f"Help Scout HTTP {response.status_code}"
    text = f"Help Scout {doc.get('logref') or doc.get('error') or response.status_code}"
    if doc.get("message") or doc.get("error_description"):
        text += f": {doc.get('message') or doc.get('error_description')}"
    errors = (doc.get("_embedded") or {}).get("errors") or []
    if errors:
        parts = [f"{e.get('path')}: {e.get('message')}" for e in errors if isinstance(e, dict)]
        text += f" ({'; '.join(parts)})"
    return text[:480]


def _raise_for(response: httpx.Response, describe: str, retry_header: str) -> None:
    code = response.status_code
    if code < 400:
        return
    if code == 429:
        raise Retry(f"{describe} (429 rate limited)", _seconds(response.headers.get(retry_header)))
    if code >= 500:
        raise Retry(f"{describe} (HTTP {code})", _seconds(response.headers.get(retry_header)))
    if code in (401, 403):
        raise AuthError(describe)
    raise ActionError(describe, code)


# ------------------------------------------------------------------ Zendesk


@dataclass(slots=True, frozen=True)
class Comment:
    """One update on a ticket, in either helpdesk's words."""

    id: int
    body: str
    public: bool
    from_customer: bool
    author: str
    author_email: str | None
    created_at: str


@dataclass
class ZendeskClient:
    base_url: str  # https://{subdomain}.zendesk.com
    email: str
    token: str
    timeout: float = 30.0
    client: httpx.AsyncClient | None = None
    idempotent: bool = True  # Idempotency-Key on ticket creation

    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)

    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self.client is None or self._loop is not loop:  # one client per event loop
            self._loop = loop
            raw = f"{self.email}/token:{self.token}".encode()
            self.client = httpx.AsyncClient(
                base_url=self.base_url.rstrip("/"),
                timeout=self.timeout,
                headers={"Authorization": "Basic " + base64.b64encode(raw).decode()},
            )
        return self.client

    def ticket_url(self, ticket_id: str) -> str:
        return f"{self.base_url.rstrip('/')}/agent/tickets/{ticket_id}"

    async def create_ticket(self, body: dict[str, Any], key: str) -> dict[str, Any]:
        response = await self._http().post(
            "/api/v2/tickets.json", json=body, headers={"Idempotency-Key": key}
        )
        _raise_for(response, zendesk_error(response), "retry-after")
        doc = _json(response)
        if not isinstance(doc, dict) or not isinstance(doc.get("ticket"), dict):
            raise ActionError("Zendesk answered without a ticket", response.status_code)
        ticket: dict[str, Any] = doc["ticket"]
        return ticket

    async def send(self, work: Work) -> Sent:
        p: Mapping[str, Any] = work.payload
        ticket = {
            "subject": p.get("subject") or "Conversation from Earful",
            # Internal: the team transcript has labels and notes the customer never sees.
            "comment": {"body": work.text or "", "public": False},
            "requester": {"name": p.get("requester_name") or p["requester_email"],
                          "email": p["requester_email"]},
            "external_id": p.get("link"),
            "tags": [str(t).replace(" ", "_") for t in p.get("tags") or []],
        }  # fmt: skip
        created = await self.create_ticket({"ticket": ticket}, work.key)
        ticket_id = str(created["id"])
        return Sent(ticket_id, self.ticket_url(ticket_id))

    async def comments(self, ticket_id: str) -> list[Comment]:
        """Every comment of the ticket, oldest first (follows ``next_page``)."""
        out: list[Comment] = []
        url: str | None = f"/api/v2/tickets/{ticket_id}/comments.json?include=users"
        while url:
            response = await self._http().get(url)
            _raise_for(response, zendesk_error(response), "retry-after")
            doc = _json(response) or {}
            users = {u["id"]: u for u in doc.get("users") or []}
            for c in doc.get("comments") or []:
                user = users.get(c.get("author_id"), {})
                out.append(
                    Comment(
                        id=int(c["id"]),
                        body=str(c.get("plain_body") or c.get("body") or ""),
                        public=bool(c.get("public", True)),
                        from_customer=user.get("role", "end-user") == "end-user",
                        author=str(user.get("name") or "Zendesk"),
                        author_email=user.get("email"),
                        created_at=str(c.get("created_at") or ""),
                    )
                )
            url = doc.get("next_page")
        return out

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()


# ------------------------------------------------------------------ Help Scout


@dataclass
class HelpScoutClient:
    base_url: str  # https://api.helpscout.net
    client_id: str
    client_secret: str
    mailbox_id: int
    timeout: float = 30.0
    client: httpx.AsyncClient | None = None
    idempotent: bool = True  # a resend looks the conversation up by its tag first
    _token: str | None = None
    _expires: float = 0.0
    _lock: asyncio.Lock | None = field(default=None, repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _not_before: float = 0.0  # X-RateLimit-Remaining-Minute hit 0: wait for the next minute

    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self.client is None or self._loop is not loop:  # one client per event loop
            self._loop, self._lock = loop, asyncio.Lock()
            self.client = httpx.AsyncClient(
                base_url=self.base_url.rstrip("/"), timeout=self.timeout
            )
        return self.client

    async def token(self, refresh: bool = False) -> str:
        self._http()
        assert self._lock is not None
        async with self._lock:
            if not refresh and self._token and time.monotonic() < self._expires - 60:
                return self._token
            response = await self._http().post(
                "/v2/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                },
            )
            if response.status_code in (400, 401, 403):
                raise AuthError(helpscout_error(response))
            _raise_for(response, helpscout_error(response), "x-ratelimit-retry-after")
            doc = _json(response) or {}
            self._token = str(doc["access_token"])
            self._expires = time.monotonic() + float(doc.get("expires_in", 7200))
            return self._token

    async def _call(self, method: str, url: str, **kw: Any) -> httpx.Response:
        wait = self._not_before - time.monotonic()
        if wait > 0:  # the minute's quota is spent: do not earn a 429, come back later
            raise Retry("Help Scout: this minute's request quota is spent", wait)
        for refresh in (False, True):
            token = await self.token(refresh=refresh)
            headers = {"Authorization": f"Bearer {token}"}
            response = await self._http().request(method, url, headers=headers, **kw)
            if response.status_code != 401:  # an expired token: fetch one and try again
                break
        quota = response.headers.get("x-ratelimit-remaining-minute", "").strip()
        if response.status_code < 400 and quota == "0":  # (a 429 says when itself)
            self._not_before = time.monotonic() + QUOTA_WINDOW_S
        _raise_for(response, helpscout_error(response), "x-ratelimit-retry-after")
        return response

    @staticmethod
    def tag(work: Work) -> str:
        return f"earful-h{work.payload.get('handoff_id') or work.job_id}"

    async def find_by_tag(self, tag: str) -> str | None:
        response = await self._call(
            "GET",
            "/v2/conversations",
            params={"mailbox": self.mailbox_id, "tag": tag, "status": "all"},
        )
        found = ((_json(response) or {}).get("_embedded") or {}).get("conversations") or []
        return str(found[0]["id"]) if found else None

    def web_url(self, conv_id: str) -> str:
        return f"https://secure.helpscout.net/conversation/{conv_id}"

    async def send(self, work: Work) -> Sent:
        p: Mapping[str, Any] = work.payload
        tag = self.tag(work)
        if work.attempt > 1:  # an earlier attempt may have created it
            existing = await self.find_by_tag(tag)
            if existing:
                return Sent(existing, self.web_url(existing))
        name = str(p.get("requester_name") or "").strip()
        first, _, last = name.partition(" ")
        customer: dict[str, Any] = {"email": p["requester_email"]}
        if first:
            customer["firstName"] = first[:40]
        if last:
            customer["lastName"] = last[:40]
        body = {
            "subject": p.get("subject") or "Conversation from Earful",
            "customer": customer,
            "mailboxId": self.mailbox_id,
            "type": "email",
            "status": "active",
            "tags": [tag, *(str(t) for t in p.get("tags") or [])],
            "threads": [
                {"type": "note", "text": work.text or ""},
                {"type": "customer", "customer": {"email": p["requester_email"]},
                 "text": p.get("public_text") or work.text or ""},
            ],
        }  # fmt: skip
        response = await self._call("POST", "/v2/conversations", json=body)
        conv_id = response.headers.get("resource-id")
        if not conv_id:
            location = response.headers.get("location") or ""
            conv_id = location.rstrip("/").rsplit("/", 1)[-1] or None
        if not conv_id:
            raise ActionError("Help Scout answered without a Resource-ID", response.status_code)
        return Sent(conv_id, self.web_url(conv_id))

    async def threads(self, conv_id: str) -> list[Comment]:
        """Every thread of the conversation, oldest first (all pages)."""
        out: list[Comment] = []
        page, pages = 1, 1
        while page <= pages:
            response = await self._call(
                "GET", f"/v2/conversations/{conv_id}/threads", params={"page": page}
            )
            doc = _json(response) or {}
            pages = int((doc.get("page") or {}).get("totalPages") or 1)
            for t in (doc.get("_embedded") or {}).get("threads") or []:
                kind = t.get("type")
                if kind not in ("customer", "message", "note", "reply"):
                    continue  # line items (status changes), forwards, chats...
                who = t.get("createdBy") or {}
                author = " ".join(str(who.get(k) or "") for k in ("first", "last")).strip()
                out.append(
                    Comment(
                        id=int(t["id"]),
                        body=str(t.get("body") or t.get("text") or ""),
                        public=kind != "note",
                        from_customer=kind == "customer",
                        author=author or str(who.get("email") or "Help Scout"),
                        author_email=who.get("email"),
                        created_at=str(t.get("createdAt") or ""),
                    )
                )
            page += 1
        out.sort(key=lambda c: c.id)
        return out

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()
