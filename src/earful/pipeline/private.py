"""Private messages in (DMs, Messenger, Instagram, Mastodon direct statuses, support mail).

A private message is addressed to the brand's own account, so its brand is the source's
and no listening rule is asked: the rules judge public posts, and a DM never counts
towards a public spike. Each message joins the customer's open private conversation
with that brand on that network, or starts one; a chat that names its own conversation
(``PostIn.thread``: a Bluesky convo, a group one too) is keyed by it instead, whoever of
its members wrote. The conversation is marked ``private``, so its replies go back on the
same channel and never in public. Ids are the network's
own (a sender id, a message id): delivered twice, a message is stored once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from earful.conversations import repository as conversations_repo
from earful.customers import links
from earful.models import (
    OPEN_STATUSES,
    Conversation,
    ConversationPost,
    ConversationStatus,
    Erasure,
    Identity,
    Post,
)
from earful.models.base import utcnow
from earful.models.customer import erasure_key
from earful.pipeline.schema import PostIn, Rejected
from earful.pipeline.stages import subject_of


@dataclass(slots=True)
class PrivateSummary:
    stored: int = 0
    duplicates: int = 0
    erased: int = 0
    # (brand id, conversation id, post id) of each stored message, for the live hub.
    events: list[tuple[int, int, int]] = field(default_factory=list)


class NoBrand(ValueError):
    """A private message reached a source that belongs to no brand."""


def store(conn: Connection, messages: list[PostIn], brand_id: int | None) -> PrivateSummary:
    """File each message in its private conversation, on ``conn`` (the caller commits)."""
    out = PrivateSummary()
    if not messages:
        return out
    if brand_id is None:
        raise NoBrand("a private message needs a source that belongs to a brand")
    with Session(bind=conn, autoflush=False) as session:
        touched: set[int] = set()
        for msg in messages:
            post = store_one(session, msg, brand_id, out)
            if post is not None:
                touched.add(post[0])
        if touched:
            conversations_repo.refresh_states(session, sorted(touched))
        session.flush()
    return out


def rejected_for(messages: list[PostIn], reason: str) -> list[Rejected]:
    return [
        Rejected(f"private {m.network} {m.external_id}", reason, m.raw or b"") for m in messages
    ]


def store_one(
    session: Session,
    msg: PostIn,
    brand_id: int,
    out: PrivateSummary,
    thread: Conversation | None = None,
) -> tuple[int, int] | None:
    """(conversation id, post id) of the stored message, or None (a duplicate, erased).
    ``thread``: the conversation it answers, when the channel says (an email's
    References); else the account's open private conversation, or a new one."""
    keys = [
        erasure_key("author", msg.network, msg.author_id),
        erasure_key("post", msg.network, msg.external_id),
    ]
    if session.scalar(select(Erasure.key).where(Erasure.key.in_(keys)).limit(1)):
        out.erased += 1
        return None
    known = session.scalar(
        select(Post.id).where(Post.network == msg.network, Post.external_id == msg.external_id)
    )
    if known is not None:
        out.duplicates += 1
        return None
    ident = identity(session, msg.network, msg.author_id, msg.author_handle, msg.author_name)
    if thread is None and msg.thread:
        thread = open_group(session, brand_id, msg.network, msg.thread)
    conv = thread or (None if msg.thread else open_private(session, brand_id, ident.id))
    post = Post(
        network=msg.network,
        external_id=msg.external_id,
        identity_id=ident.id,
        text=msg.text,
        language=msg.language,
        created_at=msg.created_at,
        url=msg.url,
        reply_to_external_id=msg.reply_to,
        from_brand=False,
        private=True,
        raw=msg.raw,
    )
    session.add(post)
    session.flush()
    if conv is None:
        conv = Conversation(
            brand_id=brand_id,
            identity_id=ident.id,
            status=ConversationStatus.NEW,
            subject=subject_of(msg.text),
            first_post_at=msg.created_at,
            last_post_at=msg.created_at,
            post_count=0,
            root_post_id=post.id,
            private=True,
        )
        session.add(conv)
        session.flush()
    elif conv.status in (ConversationStatus.WAITING, ConversationStatus.RESOLVED):
        conv.status = ConversationStatus.OPEN  # the customer answered
    session.add(ConversationPost(conversation_id=conv.id, post_id=post.id))
    conv.post_count += 1
    conv.last_post_at = max(conv.last_post_at, msg.created_at)
    session.flush()
    out.stored += 1
    out.events.append((brand_id, conv.id, post.id))
    links.suggest_from_message(session, brand_id, ident, msg.text)
    return conv.id, post.id


def identity(
    session: Session, network: str, external_id: str, handle: str | None, name: str | None
) -> Identity:
    """The author's account (the same row as their public posts on that network)."""
    found = session.scalar(
        select(Identity).where(Identity.network == network, Identity.external_id == external_id)
    ) or links.adopt_pending(session, network, external_id, handle)
    if found is None:
        found = Identity(
            network=network,
            external_id=external_id,
            handle=handle,
            display_name=name,
            created_at=utcnow(),
        )
        session.add(found)
        session.flush()
    else:
        found.handle = found.handle or handle
        found.display_name = found.display_name or name
    return found


def open_group(session: Session, brand_id: int, network: str, prefix: str) -> Conversation | None:
    """The brand's newest open private conversation of a group chat: the one holding a
    message whose id starts with the group's ``prefix`` (whoever of its members wrote it)."""
    return session.scalar(
        select(Conversation)
        .join(ConversationPost, ConversationPost.conversation_id == Conversation.id)
        .join(Post, Post.id == ConversationPost.post_id)
        .where(
            Conversation.brand_id == brand_id,
            Conversation.private.is_(True),
            Conversation.status.in_(OPEN_STATUSES),
            Post.network == network,
            Post.external_id.startswith(prefix, autoescape=True),
        )
        .order_by(Conversation.last_post_at.desc(), Conversation.id.desc())
        .limit(1)
    )


def open_private(session: Session, brand_id: int, identity_id: int) -> Conversation | None:
    """The account's newest open private conversation with the brand."""
    return session.scalar(
        select(Conversation)
        .where(
            Conversation.brand_id == brand_id,
            Conversation.identity_id == identity_id,  # an account is on one network
            Conversation.private.is_(True),
            Conversation.status.in_(OPEN_STATUSES),
        )
        .order_by(Conversation.last_post_at.desc(), Conversation.id.desc())
        .limit(1)
    )
