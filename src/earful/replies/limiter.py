"""Client-side rate limit: at most ``limit`` sends in any ``window`` seconds, never over.

A sliding window over the start times of sends (plus a small margin for the network's
clock and the trip there) holds every fixed window the network counts to ``limit`` too.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class WindowLimiter:
    limit: int
    window: float
    margin: float = 0.005
    clock: Callable[[], float] = time.monotonic
    _starts: deque[float] = field(default_factory=deque)
    _lock: asyncio.Lock | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    waited: float = 0.0

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window <= 0:
            raise ValueError("a rate limit needs limit >= 1 and window > 0")

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:  # one lock per event loop
            self._lock, self._loop = asyncio.Lock(), loop
        async with self._lock:  # first come, first served
            span = self.window + self.margin
            while True:
                now = self.clock()
                while self._starts and now - self._starts[0] >= span:
                    self._starts.popleft()
                if len(self._starts) < self.limit:
                    self._starts.append(now)
                    return
                delay = span - (now - self._starts[0])
                self.waited += delay
                await asyncio.sleep(delay)


@dataclass(slots=True)
class Limits:
    """One limiter per key (network or handoff channel); keys without a rule are free."""

    rules: dict[str, tuple[int, float]] = field(default_factory=dict)
    _limiters: dict[str, WindowLimiter] = field(default_factory=dict)

    def get(self, key: str) -> WindowLimiter | None:
        if key not in self.rules:
            return None
        if key not in self._limiters:
            limit, window = self.rules[key]
            self._limiters[key] = WindowLimiter(limit, window)
        return self._limiters[key]

    async def acquire(self, key: str) -> None:
        limiter = self.get(key)
        if limiter is not None:
            await limiter.acquire()


# Publishing limits the networks document (per account); the connector's own rate gate
# still honours the live headers on top of these.
DEFAULT_RULES: dict[str, tuple[int, float]] = {
    "mastodon": (300, 3 * 3600.0),  # statuses per 3 hours
    "bluesky": (1666, 3600.0),  # 5,000 points/hour, a create costs 3
    "x": (100, 900.0),
    "helpscout": (100, 60.0),  # writes count double against 200/min
    "zendesk": (200, 60.0),
}
