"""All SQL of notifications and event webhooks. Reads for people take their brand ids."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from earful.models import (
    Alert,
    AuditEvent,
    Base,
    Brand,
    Conversation,
    ConversationPost,
    ConversationState,
    Identity,
    JobKind,
    JobState,
    Membership,
    Notification,
    NotificationTarget,
    OutboundJob,
    Post,
    User,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

Settled = TypeVar("Settled", Notification, WebhookDelivery)


def add_once(session: Session, row: Base) -> bool:
    """Insert ``row`` unless its unique key is taken (by this or a racing worker)."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return False
    return True


# ------------------------------------------------------------------ targets


def targets_of(session: Session, user_id: int, brand_id: int) -> list[NotificationTarget]:
    return list(
        session.scalars(
            select(NotificationTarget).where(
                NotificationTarget.user_id == user_id, NotificationTarget.brand_id == brand_id
            )
        )
    )


def target(session: Session, target_id: int, brand_ids: Sequence[int]) -> NotificationTarget | None:
    return session.scalar(
        select(NotificationTarget).where(
            NotificationTarget.id == target_id, NotificationTarget.brand_id.in_(brand_ids)
        )
    )


def troubled_targets(session: Session, brand_id: int) -> list[tuple[NotificationTarget, str]]:
    """The brand's targets whose last messages failed, with their owner's name."""
    rows = session.execute(
        select(NotificationTarget, User.name)
        .join(User, User.id == NotificationTarget.user_id)
        .where(NotificationTarget.brand_id == brand_id, NotificationTarget.failures > 0)
        .order_by(NotificationTarget.id)
    )
    return [(t, str(name)) for t, name in rows]


def subscribed(
    session: Session, brand_ids: Iterable[int] | None, event: str
) -> list[tuple[NotificationTarget, User]]:
    """Targets of active members of these brands (None: of every brand) that want ``event``."""
    q = (
        select(NotificationTarget, User)
        .join(User, User.id == NotificationTarget.user_id)
        .join(
            Membership,
            (Membership.user_id == NotificationTarget.user_id)
            & (Membership.brand_id == NotificationTarget.brand_id),
        )
        .where(User.is_active.is_(True))
        .order_by(NotificationTarget.id)
    )
    if brand_ids is not None:
        q = q.where(NotificationTarget.brand_id.in_(list(brand_ids)))
    return [(t, u) for t, u in session.execute(q) if event in (t.events or [])]


def existing_keys(session: Session, keys: Iterable[str]) -> set[tuple[int, str]]:
    wanted = sorted(set(keys))
    if not wanted:
        return set()
    rows = session.execute(
        select(Notification.target_id, Notification.key).where(Notification.key.in_(wanted))
    )
    return {(int(t), str(k)) for t, k in rows}


def notifications_of(
    session: Session, user_id: int, brand_id: int, limit: int
) -> list[Notification]:
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.user_id == user_id, Notification.brand_id == brand_id)
            .order_by(Notification.id.desc())
            .limit(limit)
        )
    )


def browser_after(session: Session, after: int) -> list[Notification]:
    """Browser notifications to show, in order (the live tail follows these)."""
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.channel == "browser", Notification.id > after)
            .order_by(Notification.id)
            .limit(500)
        )
    )


def browser_sent_after(
    session: Session,
    user_id: int,
    brand_ids: Sequence[int],
    after: int,
    since: datetime,
    limit: int,
) -> list[Notification]:
    """The browser notifications sent to this user in these brands after ``after`` and since
    ``since``: the newest ``limit``, oldest first (what a reopened event stream missed)."""
    if not brand_ids:
        return []
    rows = session.scalars(
        select(Notification)
        .where(
            Notification.channel == "browser",
            Notification.id > after,
            Notification.user_id == user_id,
            Notification.brand_id.in_(list(brand_ids)),
            Notification.state == "sent",
            Notification.created_at >= since,
        )
        .order_by(Notification.id.desc())
        .limit(limit)
    )
    return list(reversed(rows.all()))


def last_notification_id(session: Session) -> int:
    return int(
        session.scalar(select(Notification.id).order_by(Notification.id.desc()).limit(1)) or 0
    )


def _unsettled(session: Session, model: type[Settled]) -> list[tuple[Settled, OutboundJob]]:
    """Rows whose outbound job has finished (sent or given up) but are not yet settled."""
    rows = session.execute(
        select(model, OutboundJob)
        .join(OutboundJob, OutboundJob.id == model.job_id)
        .where(
            model.settled.is_(False),
            OutboundJob.state.in_([JobState.SENT, JobState.FAILED]),
        )
        .order_by(OutboundJob.updated_at, OutboundJob.id)
    )
    return [(row, job) for row, job in rows]


def unsettled_notifications(session: Session) -> list[tuple[Notification, OutboundJob]]:
    return _unsettled(session, Notification)


# ------------------------------------------------------------------ what happened


def brands(session: Session, ids: Iterable[int]) -> dict[int, Brand]:
    return {b.id: b for b in session.scalars(select(Brand).where(Brand.id.in_(list(ids))))}


def new_alerts(session: Session, since: datetime) -> list[Alert]:
    return list(session.scalars(select(Alert).where(Alert.created_at >= since).order_by(Alert.id)))


def post_texts(session: Session, ids: Iterable[int]) -> dict[int, str]:
    wanted = [int(i) for i in set(ids)]
    if not wanted:
        return {}
    rows = session.execute(select(Post.id, Post.text).where(Post.id.in_(wanted)))
    return {int(i): str(t) for i, t in rows}


def last_words(session: Session, conv_id: int) -> str | None:
    """The conversation's latest post by the customer (not the brand's replies)."""
    return session.scalar(
        select(Post.text)
        .join(ConversationPost, ConversationPost.post_id == Post.id)
        .where(ConversationPost.conversation_id == conv_id, Post.from_brand.is_(False))
        .order_by(Post.created_at.desc(), Post.id.desc())
        .limit(1)
    )


def breached(
    session: Session, brand_id: int, waiting_from: datetime, waiting_to: datetime
) -> list[tuple[ConversationState, Conversation]]:
    """Conversations of the brand waiting since a moment in [from, to): their clock just ran out."""
    rows = session.execute(
        select(ConversationState, Conversation)
        .join(Conversation, Conversation.id == ConversationState.conversation_id)
        .where(
            ConversationState.brand_id == brand_id,
            ConversationState.waiting_since >= waiting_from,
            ConversationState.waiting_since < waiting_to,
        )
        .order_by(ConversationState.conversation_id)
    )
    return [(s, c) for s, c in rows]


def audit_since(
    session: Session, brand_ids: Iterable[int], actions: Sequence[str], since: datetime
) -> list[AuditEvent]:
    """These brands' audit events since ``since`` (the (brand, at) index serves it)."""
    wanted = sorted(set(brand_ids))
    if not wanted:
        return []
    return list(
        session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.brand_id.in_(wanted),
                AuditEvent.at >= since,
                AuditEvent.action.in_(list(actions)),
            )
            .order_by(AuditEvent.id)
        )
    )


def conversations(session: Session, ids: Iterable[int]) -> dict[int, Conversation]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    return {
        c.id: c for c in session.scalars(select(Conversation).where(Conversation.id.in_(wanted)))
    }


def states(session: Session, ids: Iterable[int]) -> dict[int, ConversationState]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    q = select(ConversationState).where(ConversationState.conversation_id.in_(wanted))
    return {s.conversation_id: s for s in session.scalars(q)}


def identities(session: Session, ids: Iterable[int]) -> dict[int, Identity]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    return {i.id: i for i in session.scalars(select(Identity).where(Identity.id.in_(wanted)))}


def user_names(session: Session, ids: Iterable[int]) -> dict[int, str]:
    wanted = list({i for i in ids if i})
    if not wanted:
        return {}
    return {
        int(i): str(n)
        for i, n in session.execute(select(User.id, User.name).where(User.id.in_(wanted)))
    }


NEWEST = 2000  # conversations a round looks at: more than a second's worth on any desk


def new_conversations(
    session: Session, brand_ids: Sequence[int], since: datetime
) -> list[Conversation]:
    """The newest conversations created since ``since``: read newest first by id (the
    primary key), as ``created_at`` has no index of its own."""
    rows = session.scalars(
        select(Conversation)
        .where(Conversation.brand_id.in_(list(brand_ids)))
        .order_by(Conversation.id.desc())
        .limit(NEWEST)
    )
    return sorted((c for c in rows if c.created_at >= since), key=lambda c: c.id)


def sent_replies(session: Session, brand_ids: Sequence[int], since: datetime) -> list[OutboundJob]:
    rows = session.scalars(
        select(OutboundJob)
        .where(
            OutboundJob.brand_id.in_(list(brand_ids)),
            OutboundJob.kind.in_([JobKind.REPLY, JobKind.DIRECT_MESSAGE]),
            OutboundJob.state == JobState.SENT,
            OutboundJob.sent_at >= since,
            OutboundJob.conversation_id.is_not(None),
        )
        .order_by(OutboundJob.id)
    )
    return [j for j in rows if not (j.payload or {}).get("auto")]


# ------------------------------------------------------------------ event webhooks


def endpoints(session: Session, brand_ids: Sequence[int]) -> list[WebhookEndpoint]:
    return list(
        session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.brand_id.in_(list(brand_ids)))
            .order_by(WebhookEndpoint.id)
        )
    )


def endpoint(
    session: Session, endpoint_id: int, brand_ids: Sequence[int]
) -> WebhookEndpoint | None:
    return session.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id, WebhookEndpoint.brand_id.in_(brand_ids)
        )
    )


def endpoint_secret(session: Session, endpoint_id: int) -> str | None:
    return session.scalar(
        select(WebhookEndpoint.secret_sealed).where(WebhookEndpoint.id == endpoint_id)
    )


def brands_with_endpoints(session: Session) -> list[int]:
    return sorted(set(session.scalars(select(WebhookEndpoint.brand_id))))


def known_sources(session: Session, sources: Iterable[str]) -> set[str]:
    wanted = sorted(set(sources))
    found: set[str] = set()
    for i in range(0, len(wanted), 500):
        q = select(WebhookEvent.source).where(WebhookEvent.source.in_(wanted[i : i + 500]))
        found.update(str(s) for s in session.scalars(q))
    return found


def event(session: Session, event_id: int) -> WebhookEvent | None:
    return session.get(WebhookEvent, event_id)


def unsettled_deliveries(session: Session) -> list[tuple[WebhookDelivery, OutboundJob]]:
    return _unsettled(session, WebhookDelivery)


def missed_deliveries(
    session: Session, endpoint_id: int
) -> list[tuple[WebhookDelivery, OutboundJob]]:
    """The endpoint's deliveries whose job failed or was held while it was suspended."""
    rows = session.execute(
        select(WebhookDelivery, OutboundJob)
        .join(OutboundJob, OutboundJob.id == WebhookDelivery.job_id)
        .where(WebhookDelivery.endpoint_id == endpoint_id, OutboundJob.state == JobState.FAILED)
        .order_by(WebhookDelivery.id)
    )
    return [(d, j) for d, j in rows]
