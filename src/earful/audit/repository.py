"""All SQL of the audit log: append an event, read a brand's events.

The bottom of the domains: every domain records through :func:`record` (usually via
``auth.service.audit``), so this imports nothing but the models. Append-only: there is
no update or delete here; a brand's events go only with the brand.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from earful.models import AuditEvent

# Keys a caller may put in ``details``: ids, states and counts, never free text.
ALLOWED_DETAILS = frozenset(
    {"status", "assignee", "channel", "network", "kind", "result", "role", "reason",
     "count", "version", "field", "fields", "token_name", "held",
     "mode", "days", "conversations", "posts", "identities", "format"}
)  # fmt: skip


def record(
    session: Session,
    *,
    action: str,
    actor: str,
    user_id: int | None = None,
    address: str | None = None,
    brand_id: int | None = None,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    unknown = set(details or {}) - ALLOWED_DETAILS
    if unknown:  # a programming error: the log must never hold what it should not
        raise ValueError(f"audit details may not hold {sorted(unknown)}")
    event = AuditEvent(
        action=action,
        actor=actor[:320],
        user_id=user_id,
        address=(address or None) and address[:64],
        brand_id=brand_id,
        target=target,
        details=dict(details or {}),
    )
    session.add(event)
    return event


def events(
    session: Session, brand_ids: Sequence[int], limit: int = 200, before: int | None = None
) -> list[AuditEvent]:
    """A brand's events, newest first (``before``: an event id, for the next page)."""
    q = select(AuditEvent).where(AuditEvent.brand_id.in_(brand_ids))
    if before is not None:
        q = q.where(AuditEvent.id < before)
    return list(session.scalars(q.order_by(AuditEvent.id.desc()).limit(limit)))


def all_events(session: Session, brand_id: int) -> Iterator[AuditEvent]:
    """Every event of a brand, oldest first, streamed (for the export)."""
    q = select(AuditEvent).where(AuditEvent.brand_id == brand_id).order_by(AuditEvent.id)
    yield from session.scalars(q.execution_options(yield_per=500))


def latest(session: Session, brand_id: int, action: str) -> AuditEvent | None:
    """A brand's newest event of one kind (e.g. its last retention run, with its counts)."""
    q = select(AuditEvent).where(AuditEvent.brand_id == brand_id, AuditEvent.action == action)
    return session.scalars(q.order_by(AuditEvent.id.desc()).limit(1)).first()
