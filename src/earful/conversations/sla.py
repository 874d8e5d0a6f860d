"""SLA targets per priority: how soon a brand answers an urgent post, a calm one...

A conversation's priority is named from the urgency level (0-3) the classifier gave the
customer's latest post: 3 urgent, 2 high, 1 normal, 0 low (unlabelled: normal). A brand
may give each its own first-response target; a priority without one uses the brand's
target response time. A waiting conversation is due that target after its first
unanswered customer post, counted in the brand's service hours; the inbox lists the soonest
due first and its SLA clock reads "due in 12 min", "overdue 3 h". Never commits; the CLI
(`earful brands sla ...`) and the admin page call these same functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy.orm import Session

from earful.conversations import repository as repo
from earful.conversations.priority import BY_URGENCY as BY_URGENCY
from earful.conversations.priority import priority_of as priority_of
from earful.conversations.priority import target_minutes
from earful.errors import BadInput
from earful.models import SlaPolicy

PRIORITIES = ("urgent", "high", "normal", "low")  # most pressing first
MAX_MINUTES = 60 * 24 * 60  # two months

Targets = Mapping[tuple[int, str], int]


def target(targets: Targets, brand_id: int, urgency: int | None, default: int) -> int:
    """The first-response target of a conversation of this brand and urgency."""
    return target_minutes(targets, brand_id, urgency, default)


def set_target(
    session: Session, brand_id: int, priority: str, minutes: int | None
) -> SlaPolicy | None:
    """Set one priority's target in minutes; ``None`` goes back to the brand's target."""
    if priority not in PRIORITIES:
        raise BadInput(f"the priority is one of {', '.join(PRIORITIES)}, not {priority!r}")
    row = repo.sla_policy(session, brand_id, priority)
    if minutes is None:
        if row is not None:
            session.delete(row)
            session.flush()
            rekey(session, brand_id)
        return None
    if not 1 <= minutes <= MAX_MINUTES:
        raise BadInput(f"an SLA target is between 1 and {MAX_MINUTES} minutes")
    if row is None:
        row = SlaPolicy(brand_id=brand_id, priority=priority, target_minutes=minutes)
        session.add(row)
    else:
        row.target_minutes = minutes
    session.flush()
    rekey(session, brand_id)
    return row


def rekey(session: Session, brand_id: int) -> None:
    """The brand's waiting conversations fall due anew: after a change of its SLA targets,
    service hours or holidays, the inbox orders them by the new due times at once."""
    repo.refresh_states(session, repo.waiting_ids(session, brand_id))


def targets_of(session: Session, brand_ids: Sequence[int]) -> dict[tuple[int, str], int]:
    return repo.sla_targets(session, brand_ids)
