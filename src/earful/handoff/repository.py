"""All SQL of the handoff side: the handoffs whose tickets we pull updates from."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from earful.models import Handoff, Identity


def to_sync(session: Session, channels: Sequence[str], limit: int = 500) -> list[Handoff]:
    """Handoffs to a helpdesk whose ticket exists, least recently pulled first."""
    return list(
        session.scalars(
            select(Handoff)
            .where(Handoff.channel.in_(channels), Handoff.external_id.is_not(None))
            .order_by(Handoff.id)
            .limit(limit)
        )
    )


def email_identity(session: Session, address: str) -> Identity | None:
    return session.scalar(
        select(Identity).where(Identity.network == "email", Identity.external_id == address)
    )
