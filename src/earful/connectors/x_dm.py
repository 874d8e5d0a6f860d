"""X direct messages by polling the v2 API (source kind ``x_dm``).

* Poll ``GET /2/dm_events`` with the brand account's OAuth 2.0 user token
  (``dm.read``): ``event_types=MessageCreate``, the fields in :data:`DM_EVENT_FIELDS`,
  ``expansions=sender_id`` with ``user.fields=username`` for the sender's handle. X
  lists events newest first and pages with ``meta.next_token`` → ``pagination_token``;
  it has no ``since_id`` here, so the stored cursor is the newest event id already
  stored (``{"since_id": ...}``) and paging stops at the first event not newer than it.
* Each poll round is one batch stored with its cursor; a restart resumes after it, and
  the pipeline's idempotency on the event id drops any overlap (the Account Activity
  webhook, ``x_activity``, gives the same ids: both may run).
* 429 is waited out until ``x-rate-limit-reset``; a refused token stops the source.
* Answer: ``POST /2/dm_conversations/with/:participant_id/messages`` (``dm.write``).
  This source answers only privately; public replies need the brand's ``x`` source.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import httpx
import orjson

from earful.connectors.base import Actor, Batch, ConnectorError, LiveConnector, NotSupported, Sent
from earful.connectors.http import RateGate
from earful.connectors.messages import parse_x_dm_events
from earful.connectors.registry import register
from earful.connectors.x import call, send_direct_message
from earful.pipeline.schema import Rejected

DM_EVENTS = "/2/dm_events"
DM_EVENT_FIELDS = "id,text,event_type,created_at,dm_conversation_id,sender_id,participant_ids"


@register
class XDirectMessages(LiveConnector, Actor):
    name: ClassVar[str] = "x_dm"
    network: ClassVar[str] = "x"

    def __init__(
        self,
        user_token: str,
        user_id: str,
        base_url: str = "https://api.x.com",
        poll_s: float = 60.0,
        page_size: int = 100,
        max_pages: int = 10,
        idle_timeout: float | None = None,
        max_failures: int | None = None,
        source_key: str | None = None,
    ) -> None:
        super().__init__()
        if not user_id:
            raise ConnectorError("x_dm needs the brand account's user_id (to skip its own)")
        self.user_token = user_token
        self.user_id = str(user_id)
        self.base = base_url.rstrip("/")
        self.poll_s = poll_s
        self.page_size = max(1, min(100, page_size))
        self.max_pages = max_pages
        self.idle_timeout = idle_timeout
        self.max_failures = max_failures
        self.source_key = source_key or "x_dm"
        self.gate = RateGate()
        self._client: httpx.AsyncClient | None = None

    @property
    def source_name(self) -> str:
        return f"x_dm:{self.source_key}"

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=30.0)
        return self._client

    # ------------------------------------------------------------ listen

    async def session(self, cursor: str | None) -> AsyncIterator[Batch]:
        loop = asyncio.get_running_loop()
        since = since_id(cursor)
        quiet_from = loop.time()
        while True:
            batch = await self.poll(since)
            if batch.private or batch.rejected or batch.skipped:
                since = since_id(batch.cursor) or since
                quiet_from = loop.time()
                yield batch
            elif self.idle_timeout is not None and loop.time() - quiet_from >= self.idle_timeout:
                return
            await asyncio.sleep(self.poll_s)

    async def poll(self, since: str | None) -> Batch:
        """One round: the pages of events newer than ``since``, as one batch."""
        params: dict[str, Any] = {
            "event_types": "MessageCreate",
            "dm_event.fields": DM_EVENT_FIELDS,
            "expansions": "sender_id",
            "user.fields": "username",
            "max_results": self.page_size,
        }
        events: list[tuple[str, Any]] = []
        users: dict[str, Any] = {}
        newest = since
        for page in range(self.max_pages):
            doc = await call(
                self.client(), self.gate, self.base, self.user_token, "GET", DM_EVENTS,
                params=params,
            )  # fmt: skip
            data = doc.get("data") if isinstance(doc, dict) else None
            if not isinstance(data, list):
                break  # no events at all (X omits ``data``)
            includes = doc.get("includes")
            listed = includes.get("users") if isinstance(includes, dict) else None
            for user in listed if isinstance(listed, list) else []:
                if isinstance(user, dict) and isinstance(user.get("id"), str):
                    users[user["id"]] = user
            reached = False
            for i, event in enumerate(data):
                event_id = event.get("id") if isinstance(event, dict) else None
                if isinstance(event_id, str) and event_id.isdigit():
                    if since is not None and not _later(event_id, since):
                        reached = True
                        break
                    newest = event_id if newest is None or _later(event_id, newest) else newest
                events.append((f"dm_events page {page} item {i}", event))
            meta = doc.get("meta")
            token = meta.get("next_token") if isinstance(meta, dict) else None
            if reached or not isinstance(token, str) or not token:
                break
            params["pagination_token"] = token
        events.reverse()  # X lists newest first: store in the order they were written
        posts, bad, skipped = parse_x_dm_events(events, self.user_id, users)
        by_where = dict(events)
        rejected = [
            Rejected(f"{self.source_name} {where}", reason, _raw(by_where.get(where)))
            for where, reason in bad
        ]
        cursor = orjson.dumps({"since_id": newest}).decode() if newest else None
        return Batch(posts=[], private=posts, rejected=rejected, skipped=skipped, cursor=cursor)

    # ------------------------------------------------------------ act

    async def direct_message(self, recipient: str, text: str) -> Sent:
        return await send_direct_message(
            self.client(), self.gate, self.base, self.user_token, recipient, text
        )

    async def reply(self, target: str, text: str, idempotency_key: str | None = None) -> Sent:
        raise NotSupported("an x_dm source answers direct messages only: add an x source")

    async def like(self, target: str) -> Sent:
        raise NotSupported("an x_dm source answers direct messages only: add an x source")

    async def repost(self, target: str) -> Sent:
        raise NotSupported("an x_dm source answers direct messages only: add an x source")


def since_id(cursor: str | None) -> str | None:
    """The newest stored event id from a stored cursor (None: nothing stored yet)."""
    if not cursor:
        return None
    try:
        doc = orjson.loads(cursor)
    except orjson.JSONDecodeError:
        raise ConnectorError(f"x_dm: unreadable stored cursor {cursor[:40]!r}") from None
    found = doc.get("since_id") if isinstance(doc, dict) else None
    return found if isinstance(found, str) and found.isdigit() else None


def _later(a: str, b: str) -> bool:
    """Snowflake ``a`` is newer than ``b`` (decimal strings compared as numbers)."""
    return (len(a), a) > (len(b), b)


def _raw(doc: Any) -> bytes:
    try:
        return orjson.dumps(doc)
    except TypeError:
        return repr(doc).encode()
