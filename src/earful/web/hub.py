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
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from fastapi import Request
from sqlalchemy.orm import Session

from earful.db import after_commit

TYPING_SECONDS = 6.0
# Put in a subscriber's queue when the server stops: its stream ends (an event name no
# publisher uses).
CLOSED: tuple[str, str] = ("\0closed", "")


@dataclass(eq=False)
class Subscriber:
    brand_ids: frozenset[int]
    loop: asyncio.AbstractEventLoop
    user_id: int | None = None  # who is watching: personal events go to them only
    queue: asyncio.Queue[tuple[str, str]] = field(default_factory=lambda: asyncio.Queue(1000))


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

    def subscribe(self, brand_ids: Iterable[int], user_id: int | None = None) -> Subscriber:
        sub = Subscriber(frozenset(brand_ids), asyncio.get_running_loop(), user_id)
        with self._lock:
            self._subs.add(sub)
            if self.closed:  # the server is stopping: this stream ends at once
                _close(sub)
        return sub

    def close(self) -> None:
        """End every open stream, and any opened from now on (the server is stopping)."""
        with self._lock:
            self.closed = True
            subs = list(self._subs)
        for sub in subs:
            with contextlib.suppress(RuntimeError):  # loop closed: subscriber is gone
                sub.loop.call_soon_threadsafe(_close, sub)

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self._subs.discard(sub)

    def publish(self, brand_id: int, event: str, data: str) -> None:
        """Thread-safe: deliver to every subscriber of this brand."""
        with self._lock:
            targets = [s for s in self._subs if brand_id in s.brand_ids]
        for sub in targets:
            with contextlib.suppress(RuntimeError):  # loop closed: subscriber is gone
                sub.loop.call_soon_threadsafe(_offer, sub.queue, (event, data))

    def publish_user(self, user_id: int, brand_id: int, event: str, data: str) -> None:
        """Thread-safe: deliver to this user's streams (of this brand) only."""
        with self._lock:
            targets = [s for s in self._subs if s.user_id == user_id and brand_id in s.brand_ids]
        for sub in targets:
            with contextlib.suppress(RuntimeError):
                sub.loop.call_soon_threadsafe(_offer, sub.queue, (event, data))

    def publish_ingest(self, events: Iterable[tuple[int, int, int]]) -> None:
        """New posts from ``IngestSummary.events``: (brand, conversation id, post id)."""
        for brand_id, conv_id, _post_id in events:
            self.publish(brand_id, "inbox", str(conv_id))
            self.publish(brand_id, f"conv-{conv_id}", "post")

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


def _close(sub: Subscriber) -> None:
    while True:  # make room: a stalled client's full queue must not keep its stream open
        try:
            sub.queue.put_nowait(CLOSED)
            return
        except asyncio.QueueFull:
            sub.queue.get_nowait()


def _offer(queue: asyncio.Queue[tuple[str, str]], item: tuple[str, str]) -> None:
    with contextlib.suppress(asyncio.QueueFull):  # a stalled client loses events, not memory
        queue.put_nowait(item)


def sse_frame(event: str, data: str) -> str:
    lines = data.splitlines() or [""]
    return f"event: {event}\n" + "".join(f"data: {line}\n" for line in lines) + "\n"


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
        h.publish(brand_id, f"conv-{conv_id}", kind)

    after_commit(db, publish)
