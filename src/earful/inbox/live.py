"""Live updates: an in-process hub that server-sent-event subscribers read.

Three producers feed it: :func:`Hub.publish_ingest` for in-process ingest (the events of
``Pipeline.process``), :class:`Tail` which follows newly threaded posts in the database
(ingest in another process), and the endpoints after each committed change. Each event
goes only to subscribers of the event's brand. Presence (who views, who types) lives here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from earful.db import transaction
from earful.inbox import repository as repo

log = logging.getLogger(__name__)

TYPING_SECONDS = 6.0
# Put in a subscriber's queue when the server stops: its stream ends (an event name no
# publisher uses).
CLOSED: tuple[str, str] = ("\0closed", "")


@dataclass(eq=False)
class Subscriber:
    brand_ids: frozenset[int]
    loop: asyncio.AbstractEventLoop
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

    def subscribe(self, brand_ids: Iterable[int]) -> Subscriber:
        sub = Subscriber(frozenset(brand_ids), asyncio.get_running_loop())
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


class Tail:
    """Follows posts threaded into conversations, refreshes their state, publishes.

    It follows the spike detector's new alerts too: each goes to its brand's
    subscribers as an ``alert`` event whose data is ``render_alert(row)``.
    """

    def __init__(
        self,
        engine: Engine,
        hub: Hub,
        render_alert: Callable[[dict[str, Any]], str] | None = None,
    ) -> None:
        self.engine = engine
        self.hub = hub
        self.after: int | None = None
        self.alert_after = 0
        self.render_alert = render_alert or (lambda row: str(row.get("id")))

    def start(self) -> None:
        """Bring every conversation's triage state up to date, then follow from the end."""
        with transaction(self.engine) as session:
            while stale := repo.stale_conversations(session):
                repo.refresh_states(session, stale)
            self.after = repo.last_post_id(session)
            self.alert_after = repo.last_alert_id(session)

    def poll_once(self) -> int:
        if self.after is None:
            self.start()
        with transaction(self.engine) as session:
            rows = repo.posts_after(session, self.after or 0)
            if rows:
                repo.refresh_states(session, [c for _, c, _ in rows])
            alerts = repo.alerts_after(session, self.alert_after)
        if rows:
            self.after = max(p for _, _, p in rows)
            self.hub.publish_ingest(rows)
        for alert in alerts:
            self.alert_after = max(self.alert_after, int(alert["id"]))
            self.hub.publish(int(alert["brand_id"]), "alert", self.render_alert(alert))
        return len(rows)

    async def run(self, interval: float = 0.25) -> None:
        while True:
            try:
                await asyncio.to_thread(self.poll_once)
            except Exception:  # keep following; the next poll retries
                log.exception("live tail failed")
            await asyncio.sleep(interval)
