"""Client-side rate limit: at most ``limit`` sends in any ``window`` seconds, never over.

The network counts a request when it *arrives*, and the trip there takes a variable
time (a busy event loop, a busy CPU): counting our *start* times is not enough, since
an early request that arrives late and the burst behind it can land in one window. So a
send holds its slot until its answer is back (it has surely arrived by then) and the
slot frees one ``window`` (plus a small margin) after that. Request ``i + limit`` then
starts only after request ``i`` arrived plus a whole window: no window the network can
draw, fixed or sliding, ever sees more than ``limit``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class Slot:
    """One send: ``done`` is when its answer came back (``inf`` while in flight)."""

    done: float = math.inf


@dataclass(slots=True)
class WindowLimiter:
    limit: int
    window: float
    margin: float = 0.002
    clock: Callable[[], float] = time.monotonic
    _slots: list[Slot] = field(default_factory=list)
    _lock: asyncio.Lock | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    waited: float = 0.0

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window <= 0:
            raise ValueError("a rate limit needs limit >= 1 and window > 0")

    async def acquire(self) -> Slot:
        """A slot for one send; give it back with :meth:`release` when the answer is in."""
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:  # one lock per event loop
            self._lock, self._loop = asyncio.Lock(), loop
        async with self._lock:  # first come, first served
            span = self.window + self.margin
            while True:
                now = self.clock()
                self._slots = [s for s in self._slots if now - s.done < span]
                if len(self._slots) < self.limit:
                    slot = Slot()
                    self._slots.append(slot)
                    return slot
                soonest = min(s.done for s in self._slots)
                # All in flight: look again shortly (a release frees one window later).
                delay = span - (now - soonest) if soonest != math.inf else 0.001
                delay = max(delay, 0.0001)
                self.waited += delay
                await asyncio.sleep(delay)

    def release(self, slot: Slot) -> None:
        slot.done = self.clock()


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

    async def acquire(self, key: str) -> Slot | None:
        limiter = self.get(key)
        return await limiter.acquire() if limiter is not None else None

    def release(self, key: str, slot: Slot | None) -> None:
        limiter = self.get(key)
        if limiter is not None and slot is not None:
            limiter.release(slot)


# Publishing limits the networks document (per account); the connector's own rate gate
# still honours the live headers on top of these.
DEFAULT_RULES: dict[str, tuple[int, float]] = {
    "mastodon": (300, 3 * 3600.0),  # statuses per 3 hours
    "bluesky": (1666, 3600.0),  # 5,000 points/hour, a create costs 3
    "x": (100, 900.0),
    "helpscout": (100, 60.0),  # writes count double against 200/min
    "zendesk": (200, 60.0),
}
