"""All SQL of the outbound queue. Brand-data reads take the caller's brand ids as scope."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    func,
    insert,
    select,
)
from sqlalchemy.orm import Session

from earful.models import (
    AgentSignature,
    Brand,
    CannedReply,
    Conversation,
    ConversationPost,
    ConversationState,
    EngagementSettings,
    Handoff,
    Holiday,
    Identity,
    JobState,
    OutboundAttempt,
    OutboundJob,
    Post,
    Reply,
    User,
)
from earful.models.base import utcnow

# Channels that are not a public network: never the target of a public reply.
PRIVATE_NETWORKS = ("email", "zendesk", "helpscout", "webhook", "earful")


def job(session: Session, job_id: int, brand_ids: Sequence[int]) -> OutboundJob | None:
    return session.scalar(
        select(OutboundJob).where(OutboundJob.id == job_id, OutboundJob.brand_id.in_(brand_ids))
    )


def all_brand_ids(session: Session) -> list[int]:
    """Every brand: the operator's scope (the command line), never a request's."""
    return list(session.scalars(select(Brand.id)))


def job_by_key(session: Session, key: str) -> OutboundJob | None:
    return session.scalar(select(OutboundJob).where(OutboundJob.idempotency_key == key))


def jobs_by_ids(session: Session, ids: Sequence[int]) -> list[OutboundJob]:
    return list(session.scalars(select(OutboundJob).where(OutboundJob.id.in_(ids))))


def replies_by_ids(session: Session, ids: Sequence[int]) -> list[Reply]:
    if not ids:
        return []
    return list(session.scalars(select(Reply).where(Reply.id.in_(ids))))


def handoffs_by_ids(session: Session, ids: Sequence[int]) -> list[Handoff]:
    if not ids:
        return []
    return list(session.scalars(select(Handoff).where(Handoff.id.in_(ids))))


def conversations_by_ids(session: Session, ids: Iterable[int]) -> list[Conversation]:
    return list(session.scalars(select(Conversation).where(Conversation.id.in_(list(ids)))))


def brands_by_ids(session: Session, ids: Iterable[int]) -> list[Brand]:
    return list(session.scalars(select(Brand).where(Brand.id.in_(list(ids)))))


def existing_post_keys(session: Session, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (network, external_id) pairs are already stored: one query per network."""
    by_network: dict[str, list[str]] = {}
    for network, ext in keys:
        by_network.setdefault(network, []).append(ext)
    found: set[tuple[str, str]] = set()
    for network, exts in by_network.items():
        for i in range(0, len(exts), 500):
            rows = session.scalars(
                select(Post.external_id).where(
                    Post.network == network, Post.external_id.in_(exts[i : i + 500])
                )
            )
            found.update((network, str(e)) for e in rows)
    return found


def add_posts_to_conversations(
    session: Session, items: Sequence[tuple[Conversation, dict[str, Any]]]
) -> None:
    """Like :func:`add_to_conversation` for many new posts (column dicts): two INSERTs.

    One multi-row INSERT ... RETURNING for the posts (matched back by their key, so row
    order does not matter), one executemany for the links, counters kept in memory.
    """
    if not items:
        return
    rows = [dict(row, ingested_at=row.get("ingested_at") or utcnow()) for _, row in items]
    returned = session.execute(
        insert(Post).returning(Post.id, Post.network, Post.external_id), rows
    ).all()
    ids = {(network, ext): pid for pid, network, ext in returned}
    links = [
        {"conversation_id": conv.id, "post_id": ids[(row["network"], row["external_id"])]}
        for conv, row in items
    ]
    session.execute(insert(ConversationPost), links)
    for conv, row in items:
        conv.post_count = conv.post_count + 1
        if row["created_at"] > conv.last_post_at:
            conv.last_post_at = row["created_at"]
    session.flush()


def jobs_of_conversation(session: Session, conv_id: int) -> list[OutboundJob]:
    return list(
        session.scalars(
            select(OutboundJob)
            .where(OutboundJob.conversation_id == conv_id)
            .order_by(OutboundJob.created_at, OutboundJob.id)
        )
    )


def jobs(
    session: Session, brand_ids: Sequence[int] | None, state: str | None, limit: int
) -> list[OutboundJob]:
    q = select(OutboundJob).order_by(OutboundJob.id.desc()).limit(limit)
    if brand_ids is not None:
        q = q.where(OutboundJob.brand_id.in_(brand_ids))
    if state:
        q = q.where(OutboundJob.state == JobState(state))
    return list(session.scalars(q))


def counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(OutboundJob.state, func.count()).group_by(OutboundJob.state))
    return {str(s.value if hasattr(s, "value") else s): int(n) for s, n in rows}


def target_post(session: Session, conv_id: int, identity_id: int | None = None) -> Post | None:
    """The customers' newest live public post: where a public reply or a like goes
    (only ``identity_id``'s posts when given: a private reply to the customer)."""
    q = (
        select(Post)
        .join(ConversationPost, ConversationPost.post_id == Post.id)
        .where(
            ConversationPost.conversation_id == conv_id,
            Post.from_brand.is_(False),
            Post.private.is_(False),
            Post.deleted_at.is_(None),
            Post.network.not_in(PRIVATE_NETWORKS),
        )
        .order_by(Post.created_at.desc(), Post.id.desc())
        .limit(1)
    )
    if identity_id is not None:
        q = q.where(Post.identity_id == identity_id)
    return session.scalar(q)


def private_target(session: Session, conv_id: int) -> Post | None:
    """The customer's newest message in a private conversation: where the answer goes."""
    return session.scalar(
        select(Post)
        .join(ConversationPost, ConversationPost.post_id == Post.id)
        .where(
            ConversationPost.conversation_id == conv_id,
            Post.from_brand.is_(False),
            Post.private.is_(True),
        )
        .order_by(Post.created_at.desc(), Post.id.desc())
        .limit(1)
    )


def settings(session: Session, brand_id: int) -> EngagementSettings:
    """The brand's engagement settings (defaults when none are stored)."""
    found = session.get(EngagementSettings, brand_id)
    if found is not None:
        return found
    return EngagementSettings(
        brand_id=brand_id,
        timezone="UTC",
        hours={},
        auto_ack=False,
        ack_backlog=0,
        signature_format="^{initials}",
        compliment_rules={},
        public_page=False,
    )


def settings_for_update(session: Session, brand_id: int) -> EngagementSettings:
    found = session.get(EngagementSettings, brand_id)
    if found is None:
        found = settings(session, brand_id)
        session.add(found)
    return found


def signature_override(session: Session, brand_id: int, user_id: int) -> str | None:
    row = session.get(AgentSignature, (brand_id, user_id))
    return row.signature if row else None


# ------------------------------------------------------------------ the worker's side


def claim_due(session: Session, now: datetime, limit: int) -> list[OutboundJob]:
    """Due queued jobs, oldest first; other workers skip the rows this one locked."""
    q = (
        select(OutboundJob)
        .where(OutboundJob.state == JobState.QUEUED, OutboundJob.next_attempt_at <= now)
        .order_by(OutboundJob.next_attempt_at, OutboundJob.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    return list(session.scalars(q))


def stale_sending(session: Session, before: datetime) -> list[OutboundJob]:
    """Jobs a worker claimed and never finished (it died mid-send)."""
    return list(
        session.scalars(
            select(OutboundJob).where(
                OutboundJob.state == JobState.SENDING, OutboundJob.claimed_at < before
            )
        )
    )


def add_attempts(session: Session, attempts: Sequence[tuple[int, int]], now: datetime) -> None:
    """Write ``pending`` send records for (job id, attempt number) pairs in one statement."""
    if attempts:
        session.execute(
            insert(OutboundAttempt),
            [{"job_id": j, "attempt": a, "outcome": "pending", "started_at": now}
             for j, a in attempts],
        )  # fmt: skip


def pending_attempts(session: Session, job_ids: Sequence[int]) -> dict[int, OutboundAttempt]:
    rows = session.scalars(
        select(OutboundAttempt).where(
            OutboundAttempt.job_id.in_(job_ids), OutboundAttempt.outcome == "pending"
        )
    )
    return {a.job_id: a for a in rows}


def brand_identity(session: Session, brand: Brand, network: str) -> Identity:
    """The identity the brand's own posts on ``network`` are stored under."""
    handles = (brand.handles or {}).get(network) or []
    handle = str(handles[0]) if handles else brand.slug
    ext = f"brand:{brand.slug}"
    found = session.scalar(
        select(Identity).where(Identity.network == network, Identity.external_id == ext)
    )
    if found is None:
        found = Identity(network=network, external_id=ext, handle=handle, display_name=brand.name)
        session.add(found)
        session.flush()
    return found


def post_by_key(session: Session, network: str, external_id: str) -> Post | None:
    return session.scalar(
        select(Post).where(Post.network == network, Post.external_id == external_id)
    )


def add_to_conversation(session: Session, conv: Conversation, post: Post) -> None:
    """Link a post into a conversation and keep its counters (the caller refreshes state)."""
    session.add(post)
    session.flush()
    session.add(ConversationPost(conversation_id=conv.id, post_id=post.id))
    conv.post_count = conv.post_count + 1
    if post.created_at > conv.last_post_at:
        conv.last_post_at = post.created_at
    session.flush()


def handoffs_of(session: Session, conv_id: int) -> list[Handoff]:
    return list(
        session.scalars(
            select(Handoff).where(Handoff.conversation_id == conv_id).order_by(Handoff.id)
        )
    )


def handoff_by_external(session: Session, channel: str, external_id: str) -> Handoff | None:
    return session.scalar(
        select(Handoff).where(Handoff.channel == channel, Handoff.external_id == external_id)
    )


def auto_ack_settings(session: Session) -> list[EngagementSettings]:
    return list(
        session.scalars(
            select(EngagementSettings)
            .where(EngagementSettings.auto_ack.is_(True))
            .order_by(EngagementSettings.brand_id)
        )
    )


def recently_waiting(
    session: Session, brand_id: int, since: datetime, limit: int = 500
) -> list[tuple[Conversation, datetime]]:
    """Conversations of the brand that started waiting for us after ``since``."""
    rows = session.execute(
        select(Conversation, ConversationState.waiting_since)
        .join(ConversationState, ConversationState.conversation_id == Conversation.id)
        .where(
            ConversationState.brand_id == brand_id,
            ConversationState.waiting_since.is_not(None),
            ConversationState.waiting_since >= since,
        )
        .order_by(ConversationState.waiting_since)
        .limit(limit)
    ).all()
    return [(c, w) for c, w in rows if w is not None]


def waiting_count(session: Session, brand_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(ConversationState)
            .where(
                ConversationState.brand_id == brand_id,
                ConversationState.waiting_since.is_not(None),
            )
        )
        or 0
    )


def waiting_ahead(session: Session, brand_id: int, key: float) -> int:
    """Waiting conversations of the brand that the inbox puts before ``key``
    (:func:`earful.conversations.priority.priority_key`): the queue in front of it."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(ConversationState)
            .where(
                ConversationState.brand_id == brand_id,
                ConversationState.waiting_since.is_not(None),
                ConversationState.priority_key > key,
            )
        )
        or 0
    )


def arrivals(
    session: Session, brand_id: int, since: datetime, until: datetime
) -> dict[int | None, int]:
    """{urgency: conversations of the brand first heard in [since, until)}: the pace at
    which each priority joins the queue."""
    rows = session.execute(
        select(ConversationState.urgency, func.count())
        .join(Conversation, Conversation.id == ConversationState.conversation_id)
        .where(
            Conversation.brand_id == brand_id,
            Conversation.first_post_at >= since,
            Conversation.first_post_at < until,
        )
        .group_by(ConversationState.urgency)
    ).all()
    return {urgency: int(count) for urgency, count in rows}


def answer_times(
    session: Session, brand_id: int, since: datetime, limit: int = 5000
) -> list[datetime]:
    """When the brand answered, first answers and follow-ups alike: the team's pace."""
    rows = session.scalars(
        select(Post.created_at)
        .join(ConversationPost, ConversationPost.post_id == Post.id)
        .join(Conversation, Conversation.id == ConversationPost.conversation_id)
        .where(
            Conversation.brand_id == brand_id,
            Post.from_brand.is_(True),
            Post.created_at >= since,
        )
        .order_by(Post.created_at.desc())
        .limit(limit)
    ).all()
    return sorted(rows)


def response_samples(
    session: Session, brand_id: int, since: datetime, limit: int = 2000
) -> list[tuple[datetime, datetime]]:
    """(customer's first post, brand's first answer) of recently answered conversations."""
    rows = session.execute(
        select(Conversation.first_post_at, ConversationState.first_response_at)
        .join(ConversationState, ConversationState.conversation_id == Conversation.id)
        .where(
            Conversation.brand_id == brand_id,
            ConversationState.first_response_at.is_not(None),
            ConversationState.first_response_at >= since,
        )
        .order_by(ConversationState.first_response_at.desc())
        .limit(limit)
    ).all()
    return [(a, b) for a, b in rows if a is not None and b is not None]


def get_readable_reply(session: Session, reply_id: int, brand_ids: Sequence[int]) -> Reply | None:
    return session.scalar(select(Reply).where(Reply.id == reply_id, Reply.brand_id.in_(brand_ids)))


def get_readable_canned(
    session: Session, canned_id: int, brand_ids: Sequence[int]
) -> CannedReply | None:
    return session.scalar(
        select(CannedReply).where(CannedReply.id == canned_id, CannedReply.brand_id.in_(brand_ids))
    )


def canned_replies(session: Session, brand_ids: Sequence[int]) -> list[CannedReply]:
    if not brand_ids:
        return []
    return list(
        session.scalars(
            select(CannedReply)
            .where(CannedReply.brand_id.in_(brand_ids))
            .order_by(CannedReply.name, CannedReply.id)
        )
    )


def replies_of(session: Session, conv_id: int) -> list[tuple[Reply, str | None]]:
    rows = session.execute(
        select(Reply, User.name)
        .outerjoin(User, User.id == Reply.author_id)
        .where(Reply.conversation_id == conv_id)
        .order_by(Reply.created_at, Reply.id)
    ).all()
    return [(r, name) for r, name in rows]


def rule_settings(session: Session) -> list[EngagementSettings]:
    """Brands with at least one automatic compliment rule (thank, like or repost)."""
    return [
        s
        for s in session.scalars(select(EngagementSettings).order_by(EngagementSettings.brand_id))
        if any((s.compliment_rules or {}).get(a) for a in ("thank", "like", "repost"))
    ]


def recent_compliments(
    session: Session, brand_id: int, since: datetime, limit: int = 500
) -> list[int]:
    """Conversations of the brand with a customer's compliment posted after ``since``."""
    return list(
        session.scalars(
            select(ConversationPost.conversation_id)
            .join(Post, Post.id == ConversationPost.post_id)
            .join(Conversation, Conversation.id == ConversationPost.conversation_id)
            .where(
                Conversation.brand_id == brand_id,
                Post.intent == "compliment",
                Post.from_brand.is_(False),
                Post.created_at >= since,
            )
            .distinct()
            .order_by(ConversationPost.conversation_id)
            .limit(limit)
        )
    )


def jobs_changed_since(
    session: Session, since: datetime, limit: int = 500
) -> list[tuple[int, int, datetime]]:
    """(brand id, conversation id, when) of outbound jobs of conversations whose state
    changed after ``since`` (sent, failed, retrying), oldest change first."""
    rows = session.execute(
        select(OutboundJob.brand_id, OutboundJob.conversation_id, OutboundJob.updated_at)
        .where(OutboundJob.updated_at > since, OutboundJob.conversation_id.is_not(None))
        .order_by(OutboundJob.updated_at)
        .limit(limit)
    ).all()
    return [(b, c, at) for b, c, at in rows if c is not None]


def last_job_change(session: Session) -> datetime | None:
    return session.scalar(select(func.max(OutboundJob.updated_at)))


def holidays(session: Session, brand_id: int) -> list[Holiday]:
    return list(
        session.scalars(select(Holiday).where(Holiday.brand_id == brand_id).order_by(Holiday.day))
    )


def holiday(session: Session, brand_id: int, day: date) -> Holiday | None:
    return session.get(Holiday, (brand_id, day))
