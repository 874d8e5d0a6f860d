"""The connector interface: a network's wire format in, our posts out (and actions back).

A connector reads its network from a cursor and yields :class:`Batch` es; the pipeline
stores the batch's posts and its ``cursor`` in one transaction, so a restart resumes
exactly after the last stored batch (no gap, no duplicate).

Live networks implement :class:`LiveConnector`: an asyncio ``listen(cursor)`` that
reconnects by itself (jittered exponential backoff, rate-limit headers honoured) and
reports its :class:`Health`. ``read`` drives ``listen`` synchronously, so the
file-oriented :meth:`earful.pipeline.runner.Pipeline.ingest` works for them too.
Connectors that can answer implement :class:`Actor` (reply, like, repost, direct message).
"""

from __future__ import annotations

import asyncio
import random
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from earful.pipeline.schema import PostIn, Rejected


class ConnectorError(Exception):
    """The connector cannot go on (bad configuration, unreadable source)."""


class AuthError(ConnectorError):
    """The network refused our credentials; retrying will not help."""


class NotSupported(ConnectorError):
    """The network (or this connector) cannot do that action."""


class ActionError(ConnectorError):
    """An action (reply, like...) failed; ``status`` is the network's HTTP status."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


PostKey = tuple[str, str]  # (network, external id)


@dataclass(slots=True)
class Batch:
    posts: list[PostIn]
    rejected: list[Rejected] = field(default_factory=list)
    # Where to resume after this batch is stored.
    cursor: str | None = None
    # Records read but deliberately not posts (e.g. Jetstream likes, identity events).
    skipped: int = 0
    # Progress in the connector's own unit (bytes for files), for progress bars.
    progress: int = 0
    # Posts the network says were deleted: marked, never shown again.
    deleted: list[PostKey] = field(default_factory=list)
    # New versions of posts already heard (edits): their text replaces the stored text.
    edited: list[PostIn] = field(default_factory=list)
    # Seconds between the newest event's time and now, when the network says.
    lag_s: float | None = None
    # Private messages to the brand's account (DMs, Messenger): see pipeline.private.
    private: list[PostIn] = field(default_factory=list)


HealthState = Literal["idle", "connecting", "connected", "lagging", "failing", "stopped"]


@dataclass(slots=True, frozen=True)
class Health:
    """What the UI shows for a source: connected, lagging by N seconds, failing with reason."""

    state: HealthState
    reason: str | None = None
    lag_s: float | None = None

    @property
    def text(self) -> str:
        if self.state == "lagging" and self.lag_s is not None:
            return f"lagging by {self.lag_s:.0f} s"
        if self.reason:
            return f"{self.state}: {self.reason}"
        return self.state


LAGGING_AFTER_S = 30.0


def health_from_lag(lag_s: float | None) -> Health:
    if lag_s is not None and lag_s > LAGGING_AFTER_S:
        return Health("lagging", f"{lag_s:.0f} s behind", lag_s)
    return Health("connected", None, lag_s)


class Connector(ABC):
    """One network. Subclasses register themselves by ``name`` in the registry."""

    name: ClassVar[str]
    network: ClassVar[str]

    @abstractmethod
    def read(self, cursor: str | None) -> Iterator[Batch]:
        """Yield batches from ``cursor`` (None: from the beginning) onwards."""

    @property
    def source_name(self) -> str:
        """A stable name for the stored source row that keeps this connector's cursor."""
        return self.name

    def total(self) -> int | None:
        """Total progress units, when known (file size), for progress bars."""
        return None


# ---------------------------------------------------------------- reconnecting


@dataclass(slots=True)
class Backoff:
    """Jittered exponential backoff ("full jitter"): sleep uniform(0, min(cap, base*2^n)).

    ``floor`` keeps a minimum (X asks for >= 5 s after an HTTP error); ``reset`` after a
    healthy connection.
    """

    base: float = 0.5
    cap: float = 60.0
    floor: float = 0.0
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * (2**self.attempt))
        self.attempt += 1
        return max(self.floor, self.rng.uniform(ceiling / 2, ceiling))

    def reset(self) -> None:
        self.attempt = 0


class Retry(Exception):
    """A transient failure: reconnect after ``delay`` seconds (None: use the backoff)."""

    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay


HealthCallback = Callable[[Health], None]


class LiveConnector(Connector):
    """A network heard live. Subclasses implement :meth:`session` for one connection.

    :meth:`listen` reconnects around :meth:`session`: each connection starts from the
    last cursor yielded (the caller stores it with the batch), so a drop loses nothing;
    connectors rewind a little where the network allows and the pipeline's idempotency on
    ``(network, external_id)`` drops the overlap.
    """

    #: Stop after this many seconds with no event (None: listen forever). Tests, `run --once`.
    idle_timeout: float | None = None
    #: Give up after this many consecutive failed connections (None: never).
    max_failures: int | None = None

    def __init__(self) -> None:
        self.backoff = Backoff()
        self.health = Health("idle")
        self.on_health: HealthCallback | None = None
        self.reconnects = 0

    def set_health(self, health: Health) -> None:
        if health != self.health:
            self.health = health
            if self.on_health:
                self.on_health(health)

    @abstractmethod
    def session(self, cursor: str | None) -> AsyncIterator[Batch]:
        """One connection's worth of batches; raise :class:`Retry` when it drops."""

    async def listen(self, cursor: str | None) -> AsyncGenerator[Batch, None]:
        failures = 0
        while True:
            self.set_health(Health("connecting"))
            try:
                async for batch in self.session(cursor):
                    failures = 0
                    self.backoff.reset()
                    if batch.cursor is not None:
                        cursor = batch.cursor
                    self.set_health(health_from_lag(batch.lag_s))
                    yield batch
                return  # the session ended by itself (idle timeout, end of backfill)
            except AuthError as exc:
                self.set_health(Health("failing", str(exc)))
                raise
            except Retry as exc:
                failures += 1
                self.reconnects += 1
                self.set_health(Health("failing", exc.reason))
                if self.max_failures is not None and failures >= self.max_failures:
                    raise ConnectorError(
                        f"gave up after {failures} failed connections: {exc.reason}"
                    ) from None
                delay = exc.delay if exc.delay is not None else self.backoff.next_delay()
                await asyncio.sleep(delay)

    def read(self, cursor: str | None) -> Iterator[Batch]:
        """Drive :meth:`listen` on a private event loop, one batch at a time."""
        loop = asyncio.new_event_loop()
        agen = self.listen(cursor)
        try:
            while True:
                try:
                    batch = loop.run_until_complete(agen.__anext__())
                except StopAsyncIteration:
                    return
                yield batch
        finally:
            loop.run_until_complete(agen.aclose())
            loop.close()


# ---------------------------------------------------------------- acting


@dataclass(slots=True, frozen=True)
class Sent:
    """What the network made of our action: the new post's id (and URL) when there is one."""

    external_id: str | None
    url: str | None = None


class Actor(ABC):
    """Answering on a network. Targets are our ``external_id`` s of that network's posts."""

    @abstractmethod
    async def reply(self, target: str, text: str, idempotency_key: str | None = None) -> Sent:
        """Publish ``text`` as a threaded reply to post ``target``."""

    @abstractmethod
    async def like(self, target: str) -> Sent: ...

    @abstractmethod
    async def repost(self, target: str) -> Sent: ...

    async def post(self, text: str, idempotency_key: str | None = None) -> Sent:
        """A public post of the brand's own; networks without it raise NotSupported."""
        raise NotSupported(f"{type(self).__name__} cannot publish posts of its own")

    async def direct_message(self, recipient: str, text: str) -> Sent:
        """A private message to an author id; networks without one raise NotSupported."""
        raise NotSupported(f"{type(self).__name__} cannot send direct messages")
