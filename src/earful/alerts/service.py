"""Runs the spike detector after each stored batch (never commits: the runner does)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from earful.alerts.repository import AlertRepository
from earful.alerts.spikes import SpikeSettings, detect, lookback_ranges, window_of
from earful.pipeline.schema import Classified

SETTINGS = SpikeSettings()


def detect_after_batch(
    conn: Connection, batch: Sequence[Classified], settings: SpikeSettings = SETTINGS
) -> list[int]:
    """Examine the windows this batch's customer posts fell in; store and return new alerts.

    Runs inside the batch's transaction, after its posts are stored, so the counts include
    them. A window is re-examined by every batch that adds to it, so a burst alerts as soon
    as its count crosses the threshold, not when the window closes.
    """
    candidates: dict[int, set] = {}  # type: ignore[type-arg]
    for c in batch:
        start = window_of(c.post.created_at, settings.window)
        for brand in c.brand_ids - c.own_brand_ids:
            candidates.setdefault(brand, set()).add(start)
    if not candidates:
        return []
    repo = AlertRepository(conn)
    every_start = {s for starts in candidates.values() for s in starts}
    mentions = repo.mentions(candidates, lookback_ranges(every_start, settings))
    earliest = min(every_start) - settings.cooldown
    spikes = detect(mentions, candidates, settings, repo.recent_alerts(candidates, earliest))
    return repo.insert(spikes)
