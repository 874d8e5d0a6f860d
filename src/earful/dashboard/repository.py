"""All SQL of the dashboard. Every query takes one brand id, already access-checked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    case,
    cast,
    func,
    literal,
    null,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session

from earful.models import (
    OPEN_STATUSES,
    Conversation,
    ConversationPost,
    ConversationState,
    Membership,
    Post,
    Reply,
    ReplyStatus,
    User,
)
from earful.models.base import UTCDateTime

# Replies an agent wrote and did not withdraw: queued for the connector, or delivered.
ANSWERING = (ReplyStatus.QUEUED, ReplyStatus.SENT)


def _day(session: Session, column: Any) -> ColumnElement[Any]:
    """The UTC calendar day of a timestamp, as 'YYYY-MM-DD' text on every backend."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(cast(func.timezone("UTC", column), Date), "YYYY-MM-DD")
    return func.date(column)


def _customer_posts(brand_id: int, since: datetime, until: datetime) -> Any:
    return (
        select()
        .select_from(Post)
        .join(ConversationPost, ConversationPost.post_id == Post.id)
        .join(Conversation, Conversation.id == ConversationPost.conversation_id)
        .where(
            Conversation.brand_id == brand_id,
            Post.from_brand.is_(False),
            Post.created_at >= since,
            Post.created_at < until,
        )
    )


def volume_by_day(
    session: Session, brand_id: int, since: datetime, until: datetime
) -> list[tuple[str, str | None, int]]:
    """(UTC day, sentiment, customer posts) in the window."""
    day = _day(session, Post.created_at).label("day")
    stmt = (
        _customer_posts(brand_id, since, until)
        .add_columns(day, Post.sentiment, func.count())
        .group_by(day, Post.sentiment)
        .order_by(day)
    )
    return [(str(d), s, int(n)) for d, s, n in session.execute(stmt)]


def intents(
    session: Session, brand_id: int, since: datetime, until: datetime
) -> list[tuple[str | None, int]]:
    """(intent, customer posts) in the window."""
    stmt = (
        _customer_posts(brand_id, since, until)
        .add_columns(Post.intent, func.count())
        .group_by(Post.intent)
        .order_by(Post.intent)
    )
    return [(i, int(n)) for i, n in session.execute(stmt)]


def response_pairs(
    session: Session, brand_id: int, since: datetime, until: datetime
) -> list[tuple[datetime, datetime | None]]:
    """(customer post time, the brand's next answer) for each customer post in the window.

    The answer is the brand's next post in the conversation or an agent's reply queued
    from Earful, at or after the customer's post; None while there is none. One pass:
    the posts and replies of the brand's conversations since the window opened, with a
    window function carrying the next answer backwards.
    """
    posts = (
        select(
            ConversationPost.conversation_id.label("cid"),
            Post.created_at.label("at"),
            case((Post.from_brand.is_(False), 1), else_=0).label("customer"),
            case((Post.from_brand.is_(True), Post.created_at), else_=null()).label("answer"),
        )
        .join(Post, Post.id == ConversationPost.post_id)
        .join(Conversation, Conversation.id == ConversationPost.conversation_id)
        .where(Conversation.brand_id == brand_id, Post.created_at >= since)
    )
    replies = select(
        Reply.conversation_id,
        Reply.created_at,
        literal(0),
        Reply.created_at,
    ).where(Reply.brand_id == brand_id, Reply.status.in_(ANSWERING), Reply.created_at >= since)
    events = union_all(posts, replies).subquery("events")
    following = (
        func.min(events.c.answer)
        .over(partition_by=events.c.cid, order_by=events.c.at, range_=(0, None))
        .label("next_answer")
    )
    timeline = select(events.c.at, events.c.customer, following).subquery("timeline")
    stmt = select(
        type_coerce(timeline.c.at, UTCDateTime()),
        type_coerce(timeline.c.next_answer, UTCDateTime()),
    ).where(timeline.c.customer == 1, timeline.c.at >= since, timeline.c.at < until)
    return [(t, a) for t, a in session.execute(stmt)]


def members(session: Session, brand_id: int) -> list[tuple[int, str, str]]:
    """(user id, name, role) of the brand's active members, by name."""
    rows = session.execute(
        select(User.id, User.name, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.brand_id == brand_id, User.is_active.is_(True))
        .order_by(User.name, User.id)
    )
    return [(uid, name, str(getattr(role, "value", role))) for uid, name, role in rows]


def open_assigned(session: Session, brand_id: int) -> dict[int, int]:
    """{assignee id: open conversations assigned to them} now."""
    rows = session.execute(
        select(ConversationState.assignee_id, func.count())
        .join(Conversation, Conversation.id == ConversationState.conversation_id)
        .where(
            ConversationState.brand_id == brand_id,
            ConversationState.assignee_id.is_not(None),
            Conversation.status.in_(OPEN_STATUSES),
        )
        .group_by(ConversationState.assignee_id)
    )
    return {int(uid or 0): int(n) for uid, n in rows}


def replies_by_author(
    session: Session, brand_id: int, since: datetime, until: datetime
) -> dict[int, int]:
    """{author id: replies written and not withdrawn} in the window."""
    rows = session.execute(
        select(Reply.author_id, func.count())
        .where(
            Reply.brand_id == brand_id,
            Reply.author_id.is_not(None),
            Reply.status.in_(ANSWERING),
            Reply.created_at >= since,
            Reply.created_at < until,
        )
        .group_by(Reply.author_id)
    )
    return {int(uid or 0): int(n) for uid, n in rows}
