"""Runs the spike detector after each stored batch (never commits: the runner does)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import Connection

from earful.alerts.repository import AlertRepository
from earful.alerts.spikes import SpikeSettings, detect_counts, lookback_ranges, window_of
from earful.pipeline.schema import Classified

SETTINGS = SpikeSettings()


def detect_after_batch(
    conn: Connection, batch: Sequence[Classified], settings: SpikeSettings = SETTINGS
) -> list[int]:
    """Count this batch's customer posts per brand and window, then examine the windows it
    touched; store and return new alerts.

    Runs inside the batch's transaction after its posts are stored (the batch holds only
    new posts, so each is counted once). A window is re-examined by every batch that adds
    to it, so a burst alerts as soon as its count crosses the threshold, not when the
    window closes. The detector reads the per-window counts, never the posts themselves.
    """
    added: dict[tuple[int, str, datetime], int] = defaultdict(int)
    candidates: dict[int, set[datetime]] = {}
    for c in batch:
        customer_brands = c.brand_ids - c.own_brand_ids
        if not customer_brands:
            continue
        start = window_of(c.post.created_at, settings.window)
        negative = c.labels.sentiment == "negative" or c.labels.intent == "complaint"
        for brand in customer_brands:
            candidates.setdefault(brand, set()).add(start)
            added[(brand, "volume", start)] += 1
            if negative:
                added[(brand, "negative", start)] += 1
    if not candidates:
        return []
    repo = AlertRepository(conn)
    repo.add_counts(added)
    every_start = {s for starts in candidates.values() for s in starts}
    counts = repo.counts(candidates, lookback_ranges(every_start, settings))
    earliest = min(every_start) - settings.cooldown
    spikes = detect_counts(
        counts,
        repo.first_windows(candidates),
        candidates,
        settings,
        repo.recent_alerts(candidates, earliest),
    )
    for i, spike in enumerate(spikes):
        ids = repo.post_ids(spike.brand_id, spike.kind, spike.window_start, spike.window_end)
        spikes[i] = replace(spike, post_ids=ids[: settings.max_posts])
    return repo.insert(spikes)
