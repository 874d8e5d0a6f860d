"""The live hub: an in-process fan-out that server-sent-event subscribers read.

Three producers feed it: :func:`Hub.publish_ingest` for in-process ingest (the events of
``Pipeline.process``), ``inbox.live.Tail`` which follows newly threaded posts in the
database (ingest in another process), and the endpoints, through :func:`publish_change`,
once their transaction has committed. Each event goes only to subscribers of the event's
brand. Presence (who views, who types) lives here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from fastapi import Request
from sqlalchemy.orm import Session

from earful.db import after_commit

TYPING_SECONDS = 6.0


class Item(NamedTuple):
    """One event waiting for a subscriber. ``row`` is the id of the alerts or notifications
    row an ``alert`` or ``notify`` event came from (0: none), for the stream's cursor."""

    event: str
    data: str
    row: int = 0


# A stream's cursor as the page sends it back (see Cursor); 18 digits fit a BIGINT.
_CURSOR = re.compile(r"a([0-9]{1,18})\.n([0-9]{1,18})")


@dataclass(frozen=True, slots=True)
class Cursor:
    """How far a stream has been sent the events it can be sent again: the highest alerts
    row and the highest notifications row, written ``a<alert id>.n<notification id>``.

    One value holds both marks because a stream has one last event id (the one the browser
    sends back when it reconnects), and the two tables number their rows apart: neither id
    says anything about the other table. An ``alert-ack`` has no row to count: a reopened
    inbox reloads its alert banner instead (``data-resync`` in app.js)."""

    alert: int = 0
    note: int = 0

    @classmethod
    def parse(cls, text: str | None) -> Cursor | None:
        """The cursor a page sent back; anything else (garbage, a forged giant) is none."""
        m = _CURSOR.fullmatch(text or "")
        return cls(int(m[1]), int(m[2])) if m else None

    def __str__(self) -> str:
        return f"a{self.alert}.n{self.note}"

    def covers(self, item: Item) -> bool:
        """Already sent (replayed from the database before the live tail published it)."""
        if item.event == "alert":
            return 0 < item.row <= self.alert
        return item.event == "notify" and 0 < item.row <= self.note

    def past(self, item: Item) -> Cursor:
        """The cursor once ``item`` is sent."""
        if item.event == "alert":
            return Cursor(max(self.alert, item.row), self.note)
        if item.event == "notify":
            return Cursor(self.alert, max(self.note, item.row))
        return self

    def merged(self, other: Cursor) -> Cursor:
        return Cursor(max(self.alert, other.alert), max(self.note, other.note))


# Put in a subscriber's queue when the server stops: its stream ends (an event name no
# publisher uses).
CLOSED = Item("\0closed", "")
# Events shown once and never sent again: a full queue must not lose them. Every other event
# ("inbox", "conv-…", "presence-…") asks the page to reload a part, so a later one stands in
# for an earlier one that had to go.
KEPT_EVENTS = frozenset({"alert", "alert-ack", "notify", CLOSED[0]})
QUEUE_LIMIT = 1000


@dataclass(eq=False)
class Subscriber:
    """One open event stream: what it may see, and the events waiting to be sent to it.

    The waiting events are bounded (a stalled browser costs no memory) and never hold the
    same event twice (a burst of ingest asks the inbox to reload once, not a thousand times).
    Only the subscriber's own event loop touches them.
    """

    brand_ids: frozenset[int]
    loop: asyncio.AbstractEventLoop
    user_id: int | None = None  # who is watching: personal events go to them only
    conversation: int | None = None  # the conversation open on this page, if any
    limit: int = QUEUE_LIMIT
    _waiting: deque[Item] = field(default_factory=deque)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, item: Item) -> None:
        if item in self._waiting:
            return
        if len(self._waiting) >= self.limit:
            self._make_room()
        self._waiting.append(item)
        self._ready.set()

    def _make_room(self) -> None:
        """Drop the oldest reload; only a queue of nothing but kept events drops one of them."""
        for i, item in enumerate(self._waiting):
            if item.event not in KEPT_EVENTS:
                del self._waiting[i]
                return
        self._waiting.popleft()

    async def next(self) -> Item:
        """The oldest waiting event, once there is one."""
        while not self._waiting:
            self._ready.clear()
            await self._ready.wait()
        return self._waiting.popleft()


@dataclass(slots=True)
class Presence:
    user_id: int
    name: str
    connections: int = 0
    typing_until: float = 0.0

    @property
    def typing(self) -> bool:
        return self.typing_until > time.monotonic()


class Hub:
    def __init__(self) -> None:
        self._subs: set[Subscriber] = set()
        self._lock = threading.Lock()
        self._presence: dict[int, dict[int, Presence]] = {}
        self.closed = False

    # -------------------------------------------------------------- events

    def subscribe(
        self, brand_ids: Iterable[int], user_id: int | None = None, conversation: int | None = None
    ) -> Subscriber:
        loop = asyncio.get_running_loop()
        sub = Subscriber(frozenset(brand_ids), loop, user_id, conversation)
        with self._lock:
            self._subs.add(sub)
            if self.closed:  # the server is stopping: this stream ends at once
                sub.offer(CLOSED)  # kept even by a full queue: the stream must end
        return sub

    def close(self) -> None:
        """End every open stream, and any opened from now on (the server is stopping)."""
        with self._lock:
            self.closed = True
            subs = list(self._subs)
        for sub in subs:
            with contextlib.suppress(RuntimeError):  # loop closed: subscriber is gone
                sub.loop.call_soon_threadsafe(sub.offer, CLOSED)

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self._subs.discard(sub)

    def publish(
        self,
        brand_id: int,
        event: str,
        data: str,
        conversation: int | None = None,
        row: int = 0,
    ) -> None:
        """Thread-safe: deliver to every subscriber of this brand (of this conversation only,
        when one is named: an inbox has no use for each conversation's events)."""
        with self._lock:
            targets = [
                s
                for s in self._subs
                if brand_id in s.brand_ids
                and (conversation is None or s.conversation == conversation)
            ]
        for sub in targets:
            with contextlib.suppress(RuntimeError):  # loop closed: subscriber is gone
                sub.loop.call_soon_threadsafe(sub.offer, Item(event, data, row))

    def publish_user(
        self, user_id: int, brand_id: int, event: str, data: str, row: int = 0
    ) -> None:
        """Thread-safe: deliver to this user's streams (of this brand) only."""
        with self._lock:
            targets = [s for s in self._subs if s.user_id == user_id and brand_id in s.brand_ids]
        for sub in targets:
            with contextlib.suppress(RuntimeError):
                sub.loop.call_soon_threadsafe(sub.offer, Item(event, data, row))

    def publish_ingest(self, events: Iterable[tuple[int, int, int]]) -> None:
        """New posts from ``IngestSummary.events``: (brand, conversation id, post id).

        Each brand's inboxes hear once per batch, with the conversations it touched."""
        touched: dict[int, set[int]] = {}
        for brand_id, conv_id, _post_id in events:
            touched.setdefault(brand_id, set()).add(conv_id)
        for brand_id, conv_ids in sorted(touched.items()):
            self.publish(brand_id, "inbox", ",".join(map(str, sorted(conv_ids))))
            for conv_id in sorted(conv_ids):
                self.publish(brand_id, f"conv-{conv_id}", "post", conversation=conv_id)

    # -------------------------------------------------------------- presence

    def join(self, conv_id: int, user_id: int, name: str) -> None:
        with self._lock:
            people = self._presence.setdefault(conv_id, {})
            p = people.setdefault(user_id, Presence(user_id, name))
            p.connections += 1

    def leave(self, conv_id: int, user_id: int) -> None:
        with self._lock:
            people = self._presence.get(conv_id, {})
            p = people.get(user_id)
            if p is not None:
                p.connections -= 1
                if p.connections <= 0:
                    del people[user_id]
            if not people:
                self._presence.pop(conv_id, None)

    def typing(self, conv_id: int, user_id: int, name: str) -> None:
        with self._lock:
            people = self._presence.setdefault(conv_id, {})
            p = people.setdefault(user_id, Presence(user_id, name))
            p.typing_until = time.monotonic() + TYPING_SECONDS

    def present(self, conv_id: int) -> list[tuple[int, str, bool]]:
        """(user id, name, typing?) of everyone on this conversation, by name."""
        with self._lock:
            people = list(self._presence.get(conv_id, {}).values())
        return sorted(((p.user_id, p.name, p.typing) for p in people), key=lambda x: x[1])


def sse_frame(event: str, data: str, event_id: str | None = None) -> str:
    lines = data.splitlines() or [""]
    head = f"event: {event}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    return head + "".join(f"data: {line}\n" for line in lines) + "\n"


def hub_of(request: Request) -> Hub:
    h: Hub = request.app.state.hub
    return h


def publish_change(request: Request, db: Session, brand_id: int, conv_id: int, kind: str) -> None:
    """Once ``db`` commits: tell the brand's open inboxes and this conversation's viewers.

    Published after the commit, never before: a viewer who reloads on the event must
    find the change, and a rolled-back change is never announced."""
    h = hub_of(request)

    def publish() -> None:
        h.publish(brand_id, "inbox", str(conv_id))
        h.publish(brand_id, f"conv-{conv_id}", kind, conversation=conv_id)

    after_commit(db, publish)
