"""The window limiter counts a send until its answer is back, then one window more."""

from __future__ import annotations

import asyncio
import random

from earful.engagement.limiter import WindowLimiter


def test_no_window_by_arrival_ever_holds_more_than_the_limit() -> None:
    limit, window = 5, 0.05
    limiter = WindowLimiter(limit, window)
    arrivals: list[float] = []
    rng = random.Random(7)

    async def send() -> None:
        slot = await limiter.acquire()
        await asyncio.sleep(rng.uniform(0, 0.02))  # the trip there: variable
        arrivals.append(limiter.clock())
        await asyncio.sleep(rng.uniform(0, 0.01))  # the answer back
        limiter.release(slot)

    async def main() -> None:
        await asyncio.gather(*(send() for _ in range(60)))

    asyncio.run(main())
    arrivals.sort()
    worst = max(sum(1 for t in arrivals if a <= t < a + window) for a in arrivals)
    assert worst <= limit, worst
    assert len(arrivals) == 60
