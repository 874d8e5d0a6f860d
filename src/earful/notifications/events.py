"""The event webhook's payload: what an integrator receives (see docs/webhooks.md).

Ids, states, times and the conversation's summary; never a secret, a password, a token
or an email address."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from earful.models import Brand, Conversation, ConversationState, Identity

EVENT_TYPES = (
    "conversation.created",
    "conversation.assigned",
    "conversation.replied",
    "conversation.resolved",
    "conversation.handed_off",
)


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def conversation_summary(
    conv: Conversation,
    state: ConversationState | None,
    identity: Identity | None,
    assignee: str | None,
    public_url: str,
) -> dict[str, Any]:
    return {
        "id": conv.id,
        "status": conv.status.value,
        "subject": conv.subject,
        "customer": {
            "network": identity.network if identity else None,
            # An email identity's handle is its address: not sent.
            "handle": (identity.handle or identity.external_id)
            if identity and identity.network != "email"
            else None,
        },
        "assignee": (
            {"id": state.assignee_id, "name": assignee}
            if state is not None and state.assignee_id
            else None
        ),
        "posts": conv.post_count,
        "first_post_at": iso(conv.first_post_at),
        "last_post_at": iso(conv.last_post_at),
        "url": f"{public_url.rstrip('/')}/c/{conv.id}",
    }


def payload(
    event_id: str,
    type_: str,
    occurred_at: datetime,
    brand: Brand,
    conversation: dict[str, Any] | None,
    data: dict[str, Any],
) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": type_,
        "created_at": iso(occurred_at),
        "brand": {"id": brand.id, "slug": brand.slug, "name": brand.name},
        "conversation": conversation,
        "data": data,
    }
