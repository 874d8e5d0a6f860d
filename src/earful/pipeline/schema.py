"""What flows through the pipeline: posts as connectors hand them over, and stage outputs.

The values that exist once per post are immutable NamedTuples, not frozen dataclasses: a
frozen dataclass sets each field through ``object.__setattr__`` (a class attribute lookup
per field), which cost several per cent of the ingest; a NamedTuple is built in C. Change
one with ``value._replace(field=...)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple


class PostIn(NamedTuple):
    """A post in our own schema, whatever network it came from."""

    network: str
    external_id: str
    author_id: str
    text: str
    created_at: datetime
    author_handle: str | None = None
    author_name: str | None = None
    language: str | None = None
    url: str | None = None
    reply_to: str | None = None
    quote_of: str | None = None
    repost_of: str | None = None
    raw: bytes | None = None
    # Set by connectors that know the author is the brand itself (e.g. TWCS inbound=False).
    author_is_brand: bool = False
    # A private group chat: the prefix every message id of the group starts with. Its
    # members' messages share one conversation (see earful.pipeline.private).
    thread: str | None = None


@dataclass(slots=True, frozen=True)
class Rejected:
    """Input that cannot become a post: goes to the dead-letter table with the reason."""

    position: str
    reason: str
    raw: bytes


class Labels(NamedTuple):
    sentiment: str | None = None
    sentiment_score: float | None = None
    intent: str | None = None
    intent_score: float | None = None
    urgency: int | None = None
    urgency_score: float | None = None
    language: str | None = None


EMPTY_LABELS = Labels()
# The columns a model's labels fill on a post, each named as its field in ``Labels``
# (language is stored apart: a relabeling keeps it).
LABEL_FIELDS = (
    "sentiment",
    "sentiment_score",
    "intent",
    "intent_score",
    "urgency",
    "urgency_score",
)


class Matched(NamedTuple):
    post: PostIn
    brand_ids: frozenset[int]
    # Brands whose own account wrote the post (their answers in the thread).
    own_brand_ids: frozenset[int] = frozenset()


class Classified(NamedTuple):
    post: PostIn
    brand_ids: frozenset[int]
    own_brand_ids: frozenset[int]
    labels: Labels
    model_version: str | None = None
