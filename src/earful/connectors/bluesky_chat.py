"""Bluesky chat (direct messages) by polling (source kind ``bluesky_chat``).

Chat is not in the firehose: it lives on Bluesky's chat service, reached with the
account's own session (an app password allowed to read DMs) through its PDS, which
forwards ``chat.bsky.convo.*`` calls carrying ``atproto-proxy: did:web:api.bsky.chat#bsky_chat``.

* ``chat.bsky.convo.getLog?cursor=``: the account's event log after ``cursor``
  (``#logCreateMessage``, ``#logDeleteMessage``, ``#logBeginConvo``, reads...). Without a
  cursor it starts *now* (empty ``logs``, the head ``cursor``), so a first run takes the
  head first, then reads what is already there: ``chat.bsky.convo.listConvos`` (members'
  handles) and the latest page of ``chat.bsky.convo.getMessages`` of each conversation.
  Overlap is dropped by the pipeline's idempotency on the message id.
* The stored cursor is the log's; each page of logs is one batch stored with it.
* Sessions refresh by themselves (``ExpiredToken``); 429 waits until ``ratelimit-reset``.
* A conversation is the desk's conversation, keyed by its id: in a group one (``members``
  of more than two) every sender is their own author, all in the one conversation.
* Answer: ``chat.bsky.convo.sendMessage`` to the conversation the customer wrote in
  (``convo:<id>``: a group's answer goes to the group), or ``getConvoForMembers`` first
  when only a DID is known (:func:`earful.connectors.bluesky.send_chat`). This source
  answers only privately.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import orjson

from earful.connectors.base import Actor, Batch, LiveConnector, NotSupported, Sent
from earful.connectors.bluesky import CHAT_PROXY, PDS_URL, Xrpc, send_chat
from earful.connectors.messages import LOG_CREATE_MESSAGE, parse_bsky_chat
from earful.connectors.registry import register
from earful.pipeline.schema import Rejected


@register
class BlueskyChat(LiveConnector, Actor):
    name: ClassVar[str] = "bluesky_chat"
    network: ClassVar[str] = "bluesky"

    def __init__(
        self,
        identifier: str,
        password: str,
        pds_url: str = PDS_URL,
        poll_s: float = 10.0,
        backfill_convos: int = 100,
        idle_timeout: float | None = None,
        max_failures: int | None = None,
        source_key: str | None = None,
    ) -> None:
        super().__init__()
        self.xrpc = Xrpc(pds_url, identifier, password)
        self.poll_s = poll_s
        self.backfill_convos = backfill_convos
        self.idle_timeout = idle_timeout
        self.max_failures = max_failures
        self.source_key = source_key or identifier
        self.handles: dict[str, str] = {}  # member DID -> handle, from listConvos
        self._convos: set[str] = set()  # conversations whose members we know

    @property
    def source_name(self) -> str:
        return f"bluesky_chat:{self.source_key}"

    async def _chat(self, nsid: str, params: dict[str, Any]) -> dict[str, Any]:
        doc = await self.xrpc.call("GET", nsid, params=params, proxy=CHAT_PROXY)
        return doc if isinstance(doc, dict) else {}

    # ------------------------------------------------------------ listen

    async def session(self, cursor: str | None) -> AsyncIterator[Batch]:
        if self.xrpc.did is None:
            await self.xrpc.login()
        if cursor is None:
            head = await self._chat("chat.bsky.convo.getLog", {})
            batch = await self.backfill()
            batch.cursor = head.get("cursor") if isinstance(head.get("cursor"), str) else None
            cursor = batch.cursor
            yield batch
        loop = asyncio.get_running_loop()
        quiet_from = loop.time()
        while True:
            batch = await self.poll(cursor)
            if batch.cursor != cursor or batch.private or batch.rejected:
                cursor = batch.cursor
                quiet_from = loop.time()
                yield batch
                continue  # a page came: there may be more right away
            if self.idle_timeout is not None and loop.time() - quiet_from >= self.idle_timeout:
                return
            await asyncio.sleep(self.poll_s)

    async def poll(self, cursor: str | None) -> Batch:
        """One page of the log after ``cursor``."""
        doc = await self._chat("chat.bsky.convo.getLog", {"cursor": cursor} if cursor else {})
        logs = doc.get("logs")
        listed: list[Any] = logs if isinstance(logs, list) else []
        unknown = {
            str(log.get("convoId"))
            for log in listed
            if isinstance(log, dict) and log.get("$type") == LOG_CREATE_MESSAGE
        }
        if unknown - self._convos:
            await self._members()  # a new conversation: learn its members' handles
        where = f"getLog after {cursor or 'head'}"
        batch = self._batch([(f"{where} log {i}", log) for i, log in enumerate(listed)])
        found = doc.get("cursor")
        batch.cursor = found if isinstance(found, str) and found else cursor
        return batch

    async def backfill(self) -> Batch:
        """The latest messages of each conversation already there (a first run)."""
        events: list[tuple[str, Any]] = []
        for convo_id in await self._members():
            doc = await self._chat("chat.bsky.convo.getMessages", {"convoId": convo_id})
            messages = doc.get("messages")
            for i, view in enumerate(messages if isinstance(messages, list) else []):
                log = {"$type": LOG_CREATE_MESSAGE, "convoId": convo_id, "message": view}
                events.append((f"getMessages {convo_id} {i}", log))
        return self._batch(events)

    async def _members(self) -> list[str]:
        """Conversation ids (newest first), learning each member's handle."""
        ids: list[str] = []
        page: str | None = None
        while len(ids) < self.backfill_convos:
            params: dict[str, Any] = {"limit": min(100, self.backfill_convos)}
            if page:
                params["cursor"] = page
            doc = await self._chat("chat.bsky.convo.listConvos", params)
            convos = doc.get("convos")
            for convo in convos if isinstance(convos, list) else []:
                if not isinstance(convo, dict) or not isinstance(convo.get("id"), str):
                    continue
                ids.append(convo["id"])
                for member in convo.get("members") or []:
                    if isinstance(member, dict) and isinstance(member.get("handle"), str):
                        self.handles[str(member.get("did"))] = member["handle"]
            page = doc.get("cursor") if isinstance(doc.get("cursor"), str) else None
            if not page or not convos:
                break
        self._convos = self._convos | set(ids)
        return ids

    def _batch(self, events: list[tuple[str, Any]]) -> Batch:
        posts, bad, skipped = parse_bsky_chat(events, self.xrpc.did or "", self.handles)
        by_where = dict(events)
        rejected = [
            Rejected(f"{self.source_name} {where}", reason, _raw(by_where.get(where)))
            for where, reason in bad
        ]
        return Batch(posts=[], private=posts, rejected=rejected, skipped=skipped)

    # ------------------------------------------------------------ act

    async def direct_message(self, recipient: str, text: str) -> Sent:
        return await send_chat(self.xrpc, recipient, text)

    async def reply(self, target: str, text: str, idempotency_key: str | None = None) -> Sent:
        raise NotSupported("a bluesky_chat source answers chat only: add a bluesky source")

    async def like(self, target: str) -> Sent:
        raise NotSupported("a bluesky_chat source answers chat only: add a bluesky source")

    async def repost(self, target: str) -> Sent:
        raise NotSupported("a bluesky_chat source answers chat only: add a bluesky source")


def _raw(doc: Any) -> bytes:
    try:
        return orjson.dumps(doc)
    except TypeError:
        return repr(doc).encode()
