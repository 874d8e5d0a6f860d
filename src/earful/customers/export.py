"""One customer's data as JSON (an access request): their accounts, the customer record,
their posts, their conversations with every post, note, reply, handoff and outbound job."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from earful.customers.erasure import linked_identities
from earful.models import (
    Conversation,
    ConversationPost,
    Customer,
    Handoff,
    Identity,
    Note,
    OutboundJob,
    Post,
    Reply,
)


def _t(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def customer_data(session: Session, identity: Identity) -> dict[str, Any]:
    idents = linked_identities(session, identity)
    ids = [i.id for i in idents]
    customer = session.get(Customer, identity.customer_id) if identity.customer_id else None
    own = session.scalars(select(Post).where(Post.identity_id.in_(ids)).order_by(Post.created_at))
    convs = session.scalars(
        select(Conversation).where(Conversation.identity_id.in_(ids)).order_by(Conversation.id)
    ).all()
    conversations = []
    for c in convs:
        posts = session.scalars(
            select(Post)
            .join(ConversationPost, ConversationPost.post_id == Post.id)
            .where(ConversationPost.conversation_id == c.id)
            .order_by(Post.created_at, Post.id)
        )
        conversations.append(
            {
                "id": c.id,
                "status": c.status.value,
                "started_at": _t(c.first_post_at),
                "posts": [_post(p) for p in posts],
                "notes": [
                    {"text": n.text, "at": _t(n.created_at)}
                    for n in session.scalars(select(Note).where(Note.conversation_id == c.id))
                ],
                "replies": [
                    {"text": r.text, "status": r.status.value, "at": _t(r.created_at)}
                    for r in session.scalars(select(Reply).where(Reply.conversation_id == c.id))
                ],
                "handoffs": [
                    {"channel": h.channel, "address": h.address, "at": _t(h.created_at)}
                    for h in session.scalars(select(Handoff).where(Handoff.conversation_id == c.id))
                ],
                "outbound": [
                    {
                        "kind": j.kind.value,
                        "state": j.state.value,
                        "text": j.text,
                        "at": _t(j.created_at),
                    }
                    for j in session.scalars(
                        select(OutboundJob).where(OutboundJob.conversation_id == c.id)
                    )
                ],
            }
        )
    return {
        "customer": {
            "name": customer.display_name,
            "email": customer.email,
            "preferred_channel": customer.preferred_channel,
            "since": _t(customer.created_at),
        }
        if customer
        else None,
        "accounts": [
            {
                "network": i.network,
                "id": i.external_id,
                "handle": i.handle,
                "name": i.display_name,
                "since": _t(i.created_at),
            }
            for i in idents
        ],
        "posts": [_post(p) for p in own],
        "conversations": conversations,
    }


def _post(p: Post) -> dict[str, Any]:
    return {
        "network": p.network,
        "id": p.external_id,
        "text": p.text,
        "at": _t(p.created_at),
        "url": p.url,
        "from_brand": p.from_brand,
        "sentiment": p.sentiment,
        "intent": p.intent,
    }
