"""Priority: urgency and sentiment plus the service-level clock. Never follower count.

priority(t) = score + waited(t) / target, in units of the brand's target response time:
a conversation that has waited one full target ranks like urgency level 1.33 on a calm
post. ``score`` comes from the classifiers' labels of the customer's latest post.

Within one brand the order of priority(t) is the order of a time-free key,
``key = score * target - waiting_since`` (seconds), so an index on
(brand, key) serves the inbox. Answered conversations (not waiting) sort last.
"""

from __future__ import annotations

from datetime import datetime

URGENCY_WEIGHT = 0.75  # per urgency level (0-3)
NEGATIVE_WEIGHT = 1.0  # scaled by the negative-sentiment confidence
NOT_WAITING = -1.0e12  # answered: below every waiting conversation


def score(urgency: int | None, sentiment: str | None, sentiment_score: float | None) -> float:
    s = URGENCY_WEIGHT * max(0, min(3, urgency or 0))
    if sentiment == "negative":
        s += NEGATIVE_WEIGHT * (sentiment_score if sentiment_score is not None else 1.0)
    return s


def priority_key(s: float, waiting_since: datetime | None, target_minutes: int) -> float:
    if waiting_since is None:
        return NOT_WAITING + s
    return s * target_minutes * 60.0 - waiting_since.timestamp()


def priority(key: float, now: datetime, target_minutes: int) -> float:
    """The priority at ``now`` from a stored key (see the module docstring)."""
    target = max(1, target_minutes) * 60.0
    if key < NOT_WAITING / 2:
        return key - NOT_WAITING
    return (key + now.timestamp()) / target


def duration_words(minutes: int) -> str:
    """12 min, 3 h, 2 h 5 min, 4 days: how long, as people say it."""
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        hours, rest = divmod(minutes, 60)
        return f"{hours} h" if rest == 0 or hours >= 10 else f"{hours} h {rest} min"
    return f"{round(minutes / 1440)} days"


def sla_words(waiting: bool, waited: int, target_minutes: int) -> str:
    """The service-level clock as an agent reads it."""
    if not waiting:
        return "answered"
    if waited > target_minutes:
        return f"overdue {duration_words(waited - target_minutes)}"
    return f"due in {duration_words(target_minutes - waited)}"


def sla(waiting_since: datetime | None, now: datetime, target_minutes: int) -> tuple[int, bool]:
    """(minutes waited, overdue?) of a conversation waiting for the brand."""
    if waiting_since is None:
        return 0, False
    waited = max(0, int((now - waiting_since).total_seconds() // 60))
    return waited, waited > target_minutes
