"""What a brand publishes about its service: hours, whether the team is in, and the
honest expected first-response time, computed from the same figures agents see.

Nothing here reads a customer, a post or a conversation beyond the aggregate that the
expectation is computed from; the page says nothing about anyone.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from earful.brands import repository as brands_repo
from earful.engagement import acknowledge, hours
from earful.engagement import repository as engagement_repo
from earful.errors import NotFound
from earful.models.base import utcnow

CACHE_SECONDS = 60


@dataclass(slots=True, frozen=True)
class Span:
    opens: datetime  # aware, UTC
    closes: datetime


@dataclass(slots=True, frozen=True)
class PublicStatus:
    slug: str
    name: str
    timezone: str
    always_open: bool
    open_now: bool
    back_at: datetime | None  # when closed: when the team is next in
    answer_by: datetime | None  # the promise for someone writing now; None: no hours
    wait_minutes: float
    computed_at: datetime
    week: list[Span]
    networks: list[str]
    preferred_contact: str | None

    @property
    def wait_words(self) -> str:
        """The expected first response in words, as the badge shows it."""
        if self.answer_by is None:
            return "no service hours"
        minutes = max(0.0, (self.answer_by - self.computed_at).total_seconds() / 60)
        if minutes < 60:
            return f"~{max(15, round(minutes / 15) * 15)} min"
        if minutes < 48 * 60:
            return f"~{round(minutes / 60)} h"
        return f"~{round(minutes / 1440)} days"


def status(session: Session, slug: str, now: datetime | None = None) -> PublicStatus:
    """The brand's public status, or NotFound unless the brand has published its page
    (an unpublished brand and a missing one look the same)."""
    now = now or utcnow()
    brand = brands_repo.by_slug(session, slug)
    settings = engagement_repo.settings(session, brand.id) if brand else None
    if brand is None or settings is None or not settings.public_page:
        raise NotFound("no such service page")
    h, e = acknowledge.brand_expectation(session, brand.id, now)
    open_now = hours.is_open(h, now)
    return PublicStatus(
        slug=brand.slug,
        name=brand.name,
        timezone=settings.timezone,
        always_open=h.always,
        open_now=open_now,
        back_at=None if open_now else hours.next_open(h, now),
        answer_by=e.answer_by,
        wait_minutes=e.wait_minutes,
        computed_at=now,
        week=[Span(a, b) for a, b in hours.week_spans(h, now)] if not h.always else [],
        networks=sorted((brand.handles or {}).keys()),
        preferred_contact=settings.preferred_contact,
    )


class StatusCache:
    """At most one computation per brand a minute, however often a status page polls."""

    def __init__(self, seconds: float = CACHE_SECONDS) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, PublicStatus]] = {}

    def get(self, session: Session, slug: str) -> PublicStatus:
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(slug)
        if hit is not None and now - hit[0] < self.seconds:
            return hit[1]
        fresh = status(session, slug)
        with self._lock:
            self._entries[slug] = (now, fresh)
        return fresh
