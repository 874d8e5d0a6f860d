"""Public replies from the inbox, held when the conversation changed after the agent
opened it (the collision warning), then queued as outbound jobs. Never commits."""

from __future__ import annotations

from sqlalchemy.orm import Session

from earful.auth.access import access_brand_id
from earful.auth.service import Principal, audit
from earful.conversations import repository as conversations_repo
from earful.conversations.service import access_conversation
from earful.engagement import repository as repo
from earful.engagement import service as replies_service
from earful.engagement.schemas import ReplyOut
from earful.errors import BadInput, Conflict, NotFound
from earful.models import (
    Brand,
    Conversation,
    ConversationState,
    ConversationStatus,
    Reply,
    ReplyStatus,
    Role,
)
from earful.models.base import utcnow


def reply_out(reply: Reply, author: str | None) -> ReplyOut:
    return ReplyOut(
        id=reply.id,
        text=reply.text,
        status=str(reply.status.value),
        author=author,
        hold_reason=reply.hold_reason,
        created_at=reply.created_at,
    )


def queue_reply(
    session: Session, principal: Principal, conv_id: int, text: str, seen_version: int
) -> tuple[Reply, ConversationState]:
    """Queue a public reply, or hold it when the conversation changed since it was opened."""
    conv = access_conversation(session, principal, conv_id, Role.AGENT)
    text = text.strip()
    if not text:
        raise BadInput("a reply needs some text")
    replies_service.check_reply(session, principal, conv, text)  # too long: refused now
    st = conversations_repo.state_for_update(session, conv)
    stale = st.version != seen_version
    reply = Reply(
        conversation_id=conv.id,
        brand_id=conv.brand_id,
        author_id=principal.user_id,
        text=text,
        status=ReplyStatus.HELD if stale else ReplyStatus.QUEUED,
        based_on_version=seen_version,
        hold_reason=(
            "Held: the conversation changed after you opened it (a new post, reply, "
            "note, assignment or status change). Read it again, then send or discard."
            if stale
            else None
        ),
    )
    session.add(reply)
    if not stale:
        _answered(session, conv, st)
    session.flush()
    if not stale:
        replies_service.enqueue_reply(session, principal, reply)  # the outbound job
    audit(session, principal, "reply.queue", brand_id=conv.brand_id,
          target=f"reply:{reply.id}", held=stale)  # fmt: skip
    return reply, st


def _answered(session: Session, conv: Conversation, st: ConversationState) -> None:
    brand = session.get(Brand, conv.brand_id)
    assert brand is not None
    conversations_repo.answered(session, st, brand.target_response_minutes)
    if conv.status in (ConversationStatus.NEW, ConversationStatus.OPEN):
        conv.status = ConversationStatus.WAITING
    st.status = conv.status.value
    st.version += 1
    st.updated_at = utcnow()


def release_reply(
    session: Session, principal: Principal, reply_id: int, seen_version: int
) -> tuple[Reply, ConversationState]:
    """Send a held reply after the agent has looked again (at version ``seen_version``)."""
    reply = access_reply(session, principal, reply_id, Role.AGENT)
    conv = access_conversation(session, principal, reply.conversation_id, Role.AGENT)
    if reply.status != ReplyStatus.HELD:
        raise Conflict("only a held reply can be sent from here")
    st = conversations_repo.state_for_update(session, conv)
    if st.version != seen_version:
        raise Conflict("the conversation changed again; read it and try once more")
    reply.status = ReplyStatus.QUEUED
    reply.hold_reason = None
    reply.based_on_version = seen_version
    _answered(session, conv, st)
    session.flush()
    replies_service.enqueue_reply(session, principal, reply)  # the outbound job
    audit(session, principal, "reply.send_held", brand_id=conv.brand_id,
          target=f"reply:{reply.id}")  # fmt: skip
    return reply, st


def discard_reply(session: Session, principal: Principal, reply_id: int) -> Reply:
    reply = access_reply(session, principal, reply_id, Role.AGENT)
    if reply.status != ReplyStatus.HELD:
        raise Conflict("only a held reply can be discarded")
    reply.status = ReplyStatus.DISCARDED
    audit(session, principal, "reply.discard", brand_id=reply.brand_id,
          target=f"reply:{reply.id}")  # fmt: skip
    session.flush()
    return reply


def access_reply(
    session: Session, principal: Principal, reply_id: int, need: Role = Role.AGENT
) -> Reply:
    reply = repo.get_readable_reply(session, reply_id, principal.brand_ids())
    if reply is None:
        raise NotFound("no such reply")
    access_brand_id(principal, reply.brand_id, need)
    return reply
