"""Spike alerts: counting each stored batch and running the detector over it, and the
alerts as people see and acknowledge them. Never commits: callers do."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from earful.alerts import repository
from earful.alerts.repository import AlertRepository
from earful.alerts.schemas import AlertDetailOut, AlertPostOut, alert_out
from earful.alerts.spikes import SpikeSettings, detect_counts, lookback_ranges, window_of
from earful.auth.access import access_brand_id
from earful.auth.service import Principal, audit
from earful.errors import NotFound
from earful.models import Alert, Role
from earful.models.base import utcnow
from earful.pipeline.schema import Classified

SETTINGS = SpikeSettings()


# Per brand, the window starts a batch added to: what the detector re-examines.
Windows = dict[int, set[datetime]]


def count_batch(
    conn: Connection, batch: Sequence[Classified], settings: SpikeSettings = SETTINGS
) -> Windows:
    """Add this batch's customer posts to the per-window counts; returns the windows touched.

    Runs inside the batch's transaction after its posts are stored (the batch holds only
    new posts, so each is counted once, and the counts commit with the posts).
    """
    added: dict[tuple[int, str, datetime], int] = defaultdict(int)
    windows: Windows = {}
    for c in batch:
        customer_brands = c.brand_ids - c.own_brand_ids
        if not customer_brands:
            continue
        start = window_of(c.post.created_at, settings.window)
        negative = c.labels.sentiment == "negative" or c.labels.intent == "complaint"
        for brand in customer_brands:
            windows.setdefault(brand, set()).add(start)
            added[(brand, "volume", start)] += 1
            if negative:
                added[(brand, "negative", start)] += 1
    AlertRepository(conn).add_counts(added)
    return windows


def merge_windows(into: Windows, more: Windows) -> Windows:
    for brand, starts in more.items():
        into.setdefault(brand, set()).update(starts)
    return into


def detect_spikes(
    conn: Connection, windows: Windows, settings: SpikeSettings = SETTINGS
) -> list[int]:
    """Examine ``windows`` over the stored counts; store and return new alerts.

    A window is re-examined by every batch that adds to it, so a burst alerts as soon as
    its count crosses the threshold, not when the window closes. The detector reads the
    per-window counts, never the posts themselves. Workers run this after their batch
    committed, outside the ingest lock, under the alerts lock (so two workers never judge
    the same window at once); what it reads is then every committed batch's count.
    """
    if not windows:
        return []
    repo = AlertRepository(conn)
    repo.lock()
    every_start = {s for starts in windows.values() for s in starts}
    counts = repo.counts(windows, lookback_ranges(every_start, settings))
    earliest = min(every_start) - settings.cooldown
    spikes = detect_counts(
        counts,
        repo.first_windows(windows),
        windows,
        settings,
        repo.recent_alerts(windows, earliest),
    )
    for i, spike in enumerate(spikes):
        ids = repo.post_ids(spike.brand_id, spike.kind, spike.window_start, spike.window_end)
        spikes[i] = replace(spike, post_ids=ids[: settings.max_posts])
    return repo.insert(spikes)


# ------------------------------------------------------------------ for people


def access_alert(
    session: Session, principal: Principal, alert_id: int, need: Role = Role.VIEWER
) -> Alert:
    alert = repository.get_readable(session, alert_id, principal.brand_ids())
    if alert is None:
        raise NotFound("no such alert")
    access_brand_id(principal, alert.brand_id, need)
    return alert


def alert_detail(session: Session, principal: Principal, alert_id: int) -> AlertDetailOut:
    """The alert and the posts that made it, each with its conversation to open."""
    alert = access_alert(session, principal, alert_id)
    posts = [
        AlertPostOut(
            id=p.id,
            conversation_id=p.conversation_id,
            network=p.network,
            author_handle=p.handle,
            text=p.text,
            created_at=p.created_at,
            sentiment=p.sentiment,
            intent=p.intent,
        )
        for p in repository.posts_of(session, alert)
    ]
    return AlertDetailOut(alert=alert_out(alert), posts=posts)


def acknowledge(session: Session, principal: Principal, alert_id: int) -> Alert:
    """An agent has seen the spike: it leaves every inbox's banner (once; a second
    acknowledgement keeps the first one's who and when)."""
    alert = access_alert(session, principal, alert_id, Role.AGENT)
    if alert.acknowledged_at is None:
        alert.acknowledged_at = utcnow()
        alert.acknowledged_by = principal.user_id
        audit(session, principal, "alert.acknowledge", brand_id=alert.brand_id,
              target=f"alert:{alert.id}")  # fmt: skip
        session.flush()
    return alert
