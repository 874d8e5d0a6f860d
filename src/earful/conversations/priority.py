"""Priority: the service-level clock. Never follower count.

A waiting conversation is due when its first unanswered customer post has waited the
target of its priority, counted in the brand's service hours (``conversations.due``). The
priority is named by the most urgent of the customer's posts still waiting for an answer,
so a follow-up ("hello??") never makes an urgent conversation wait longer.
The inbox lists the soonest due first: an urgent post with a 15-minute target comes
before a calm one that arrived earlier with a day's target. The order is that of a
time-free key, ``key = -due`` (seconds), stored with the conversation's state so that an
index on (brand, key) serves the inbox, and so that several brands merge on the same key.
Answered conversations (not waiting) sort last, by ``score`` (the classifiers' urgency and
sentiment of the customer's latest post).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from earful.wording import duration_words as duration_words

URGENCY_WEIGHT = 0.75  # per urgency level (0-3)
NEGATIVE_WEIGHT = 1.0  # scaled by the negative-sentiment confidence
NOT_WAITING = -1.0e12  # answered: below every waiting conversation


def score(urgency: int | None, sentiment: str | None, sentiment_score: float | None) -> float:
    s = URGENCY_WEIGHT * max(0, min(3, urgency or 0))
    if sentiment == "negative":
        s += NEGATIVE_WEIGHT * (sentiment_score if sentiment_score is not None else 1.0)
    return s


BY_URGENCY = {3: "urgent", 2: "high", 1: "normal", 0: "low"}


def priority_of(urgency: int | None) -> str:
    """The priority named from the urgency level (unlabelled: normal; 4 is urgent too)."""
    level = 1 if urgency is None else max(0, min(3, urgency))
    return BY_URGENCY[level]


# Without a policy of its own, a priority's target is the brand's scaled: urgent posts are
# due sooner than calm ones even before an admin sets targets, so urgency still triages.
DEFAULT_SCALE = {"urgent": 0.25, "high": 0.5, "normal": 1.0, "low": 2.0}


def target_minutes(
    targets: Mapping[tuple[int, str], int], brand_id: int, urgency: int | None, brand_target: int
) -> int:
    """The first-response target of a conversation of this brand and urgency."""
    name = priority_of(urgency)
    found = targets.get((brand_id, name))
    return found if found is not None else max(1, round(brand_target * DEFAULT_SCALE[name]))


def priority_key(s: float, due: datetime | None) -> float:
    """The stored key: the later due, the lower; not waiting (``due`` None) below all."""
    if due is None:
        return NOT_WAITING + s
    return -due.timestamp()


def due_at(key: float) -> datetime | None:
    """The due time a stored key holds (None: not waiting)."""
    if key < NOT_WAITING / 2:
        return None
    return datetime.fromtimestamp(-key, UTC)


def priority(key: float, now: datetime, target_minutes: int) -> float:
    """Targets past due at ``now`` (negative: before it), from a stored key."""
    target = max(1, target_minutes) * 60.0
    if key < NOT_WAITING / 2:
        return key - NOT_WAITING
    return (key + now.timestamp()) / target


def sla_words(due: datetime | None, now: datetime) -> str:
    """The service-level clock as an agent reads it: "due in 12 min", "overdue 3 h"."""
    if due is None:
        return "answered"
    late = int((now - due).total_seconds() // 60)
    if late >= 1:
        return f"overdue {duration_words(late)}"
    if now >= due:  # less than a minute past: "overdue 0 min" reads as a glitch
        return "due now"
    return f"due in {duration_words(int(-(-(due - now).total_seconds() // 60)))}"


def sla(waiting_since: datetime | None, now: datetime, target_minutes: int) -> tuple[int, bool]:
    """(minutes waited, overdue?) of a conversation waiting for the brand."""
    if waiting_since is None:
        return 0, False
    waited = max(0, int((now - waiting_since).total_seconds() // 60))
    return waited, waited > target_minutes
