"""The stage after the commit: the second tier relabels the batch's customer posts.

The fast tier labeled every matched post inside the batch's transaction, so the inbox shows
each post as soon as it is stored. This stage then reads those posts back, relabels their
sentiment, intent and urgency with the second tier (a transformer, a few milliseconds a
post) in a transaction of its own, marks them with its version (``posts.tier2_version``),
puts agents' corrections back on top and refreshes the conversations' triage state.

A failure here loses nothing: the posts keep the fast tier's labels (logged, never raised).
On with ``EARFUL_SECOND_TIER=true``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from earful.conversations import repository as conversations_repo
from earful.pipeline.schema import Labels

log = logging.getLogger(__name__)


class Relabeler(Protocol):
    """Labels texts; the understanding package's ``SecondTier`` implements this."""

    version: str

    def classify(self, texts: Sequence[str]) -> list[Labels]: ...


def default_relabeler() -> Relabeler | None:
    """The shipped second tier when the setting turns it on, else None."""
    from earful.config import get_settings

    if not get_settings().second_tier:
        return None
    from earful.understanding.tier2 import shipped_second_tier

    return shipped_second_tier()


def relabel(engine: Engine, post_ids: Sequence[int], tier: Relabeler) -> int:
    """Relabel the customer posts among ``post_ids``; returns how many (0 on failure)."""
    from earful.understanding.repository import LabelRepository

    if not post_ids:
        return 0
    try:
        with engine.begin() as conn:
            repo = LabelRepository(conn)
            rows = repo.customer_posts(sorted(set(post_ids)))
            if not rows:
                return 0
            labels = tier.classify([text for _, text, _ in rows])
            ids = [pid for pid, _, _ in rows]
            # Language and the "not scored" rule are read again the same way as at ingest.
            repo.store_second_tier(ids, labels, tier.version)
            with Session(bind=conn, autoflush=False) as session:
                conversations_repo.refresh_states(session, repo.conversations_of(ids))
                session.flush()
        return len(rows)
    except Exception as exc:  # the fast tier's labels stand; the next batch tries again
        log.warning("second tier failed on %d posts: %s", len(post_ids), type(exc).__name__)
        return 0
