"""All SQL of customers: an identity, the customer it belongs to, their other conversations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    select,
)
from sqlalchemy.orm import Session

from earful.conversations.repository import status_value
from earful.models import (
    Brand,
    Conversation,
    Customer,
    Identity,
)


def identity_and_customer(
    session: Session, identity_id: int
) -> tuple[Identity, Customer | None, list[Identity]]:
    ident = session.get(Identity, identity_id)
    assert ident is not None
    customer = session.get(Customer, ident.customer_id) if ident.customer_id else None
    linked = (
        list(
            session.scalars(
                select(Identity)
                .where(Identity.customer_id == ident.customer_id)
                .order_by(Identity.network, Identity.id)
            )
        )
        if ident.customer_id
        else [ident]
    )
    return ident, customer, linked


def other_conversations(
    session: Session, identity_ids: Sequence[int], brand_ids: Sequence[int], exclude: int
) -> list[tuple[int, str, str, str | None, datetime, str]]:
    """(id, brand name, status, subject, last post, network) of the customer's others."""
    rows = session.execute(
        select(
            Conversation.id,
            Brand.name,
            Conversation.status,
            Conversation.subject,
            Conversation.last_post_at,
            Identity.network,
        )
        .join(Brand, Brand.id == Conversation.brand_id)
        .join(Identity, Identity.id == Conversation.identity_id)
        .where(
            Conversation.identity_id.in_(identity_ids),
            Conversation.brand_id.in_(brand_ids),
            Conversation.id != exclude,
        )
        .order_by(Conversation.last_post_at.desc())
        .limit(50)
    ).all()
    return [(i, b, status_value(s), subj, last, net) for i, b, s, subj, last, net in rows]
