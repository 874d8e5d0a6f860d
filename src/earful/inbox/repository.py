"""All SQL of the inbox. Every brand-data query takes the caller's brand ids as its scope."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    delete,
    func,
    literal_column,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased

from earful.inbox import priority as prio
from earful.models import (
    Base,
    Brand,
    CannedReply,
    Conversation,
    ConversationPost,
    ConversationState,
    ConversationStatus,
    ConversationTag,
    Customer,
    Identity,
    ListeningQuery,
    Note,
    Post,
    Reply,
    SavedView,
    User,
)
from earful.models.base import utcnow
from earful.models.search import POSTGRES_TS_CONFIG, SQLITE_FTS_TABLE

CHUNK = 500
TOKEN = re.compile(r"\w+", re.UNICODE)


# ------------------------------------------------------------------ scoped single rows


def brand_by_slug(session: Session, slug: str, brand_ids: Sequence[int]) -> Brand | None:
    return session.scalar(select(Brand).where(Brand.slug == slug, Brand.id.in_(brand_ids)))


def brands(session: Session, brand_ids: Sequence[int]) -> list[Brand]:
    if not brand_ids:
        return []
    return list(session.scalars(select(Brand).where(Brand.id.in_(brand_ids)).order_by(Brand.name)))


def conversation(session: Session, conv_id: int, brand_ids: Sequence[int]) -> Conversation | None:
    return session.scalar(
        select(Conversation).where(Conversation.id == conv_id, Conversation.brand_id.in_(brand_ids))
    )


def reply(session: Session, reply_id: int, brand_ids: Sequence[int]) -> Reply | None:
    return session.scalar(select(Reply).where(Reply.id == reply_id, Reply.brand_id.in_(brand_ids)))


def canned(session: Session, canned_id: int, brand_ids: Sequence[int]) -> CannedReply | None:
    return session.scalar(
        select(CannedReply).where(CannedReply.id == canned_id, CannedReply.brand_id.in_(brand_ids))
    )


def saved_view(session: Session, view_id: int, user_id: int) -> SavedView | None:
    return session.scalar(
        select(SavedView).where(SavedView.id == view_id, SavedView.user_id == user_id)
    )


def saved_views(session: Session, user_id: int) -> list[SavedView]:
    return list(
        session.scalars(
            select(SavedView).where(SavedView.user_id == user_id).order_by(SavedView.name)
        )
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


def state(session: Session, conv_id: int) -> ConversationState | None:
    return session.get(ConversationState, conv_id)


def state_for_update(session: Session, conv: Conversation) -> ConversationState:
    """The conversation's state row, created if the refresher has not reached it yet."""
    st = session.get(ConversationState, conv.id)
    if st is None:
        refresh_states(session, [conv.id])
        st = session.get(ConversationState, conv.id)
    assert st is not None
    return st


# ------------------------------------------------------------------ the inbox list


@dataclass(slots=True)
class InboxQuery:
    brand_ids: list[int]
    statuses: list[str]
    network: str | None = None
    sentiment: str | None = None
    intent: str | None = None
    language: str | None = None
    assignee: int | None = None
    unassigned: bool = False
    tag: str | None = None
    search: str | None = None
    limit: int = 50
    offset: int = 0


@dataclass(slots=True)
class InboxRow:
    id: int
    brand_id: int
    brand_name: str
    target_minutes: int
    status: str
    subject: str | None
    last_post_at: datetime
    post_count: int
    handle: str | None
    author_name: str | None
    network: str | None
    sentiment: str | None
    intent: str | None
    urgency: int | None
    language: str | None
    waiting_since: datetime | None
    priority_key: float
    version: int
    assignee_id: int | None
    assignee_name: str | None
    tags: list[str]


def fts_query(raw: str) -> str:
    """User text → a safe FTS5 query: every word quoted, all required (AND)."""
    words = TOKEN.findall(raw)[:12]
    return " ".join(f'"{w}"' for w in words)


def _search_clause(session: Session, raw: str, conv_id: Any) -> ColumnElement[bool] | None:
    if session.get_bind().dialect.name == "postgresql":
        words = TOKEN.findall(raw)[:12]
        if not words:
            return None
        cfg: ColumnElement[Any] = literal_column(f"'{POSTGRES_TS_CONFIG}'::regconfig")
        matching = (
            select(ConversationPost.conversation_id)
            .join(Post, Post.id == ConversationPost.post_id)
            .where(
                func.to_tsvector(cfg, Post.text).bool_op("@@")(
                    func.plainto_tsquery(cfg, " ".join(words))
                )
            )
        )
        found: ColumnElement[bool] = conv_id.in_(matching)
        return found
    q = fts_query(raw)
    if not q:
        return None
    hits = text(f"SELECT rowid FROM {SQLITE_FTS_TABLE} WHERE {SQLITE_FTS_TABLE} MATCH :fts")
    matching = select(ConversationPost.conversation_id).where(
        ConversationPost.post_id.in_(hits.bindparams(fts=q).columns(literal_column("rowid")))
    )
    hit: ColumnElement[bool] = conv_id.in_(matching)
    return hit


def inbox_page(session: Session, q: InboxQuery, now: datetime) -> list[InboxRow]:
    """One page of the inbox, highest priority first, in two queries (rows, tags).

    The page's ids are chosen on ``conversation_states`` alone (a subquery with the
    limit): for one brand that is a walk of the inbox index in key order that stops
    after a page, whatever the planner thinks of the other tables; the names and
    subjects are joined to those rows only.
    """
    if not q.brand_ids:
        return []
    st = ConversationState
    ids: Select[Any] = select(st.conversation_id.label("cid")).where(st.brand_id.in_(q.brand_ids))
    if q.statuses:
        ids = ids.where(st.status.in_(q.statuses))
    for column, value in (
        (st.network, q.network),
        (st.sentiment, q.sentiment),
        (st.intent, q.intent),
        (st.language, q.language),
    ):
        if value:
            ids = ids.where(column == value)
    if q.unassigned:
        ids = ids.where(st.assignee_id.is_(None))
    elif q.assignee is not None:
        ids = ids.where(st.assignee_id == q.assignee)
    if q.tag:
        ids = ids.where(
            st.conversation_id.in_(
                select(ConversationTag.conversation_id).where(
                    ConversationTag.brand_id.in_(q.brand_ids), ConversationTag.tag == q.tag
                )
            )
        )
    if q.search:
        clause = _search_clause(session, q.search, st.conversation_id)
        if clause is not None:
            ids = ids.where(clause)
    if len(q.brand_ids) == 1:
        # One brand: the stored key orders like the priority (index on brand, key).
        key: Any = st.priority_key
        page = (
            ids.add_columns(key.label("k"))
            .order_by(key.desc(), st.conversation_id.desc())
            .limit(q.limit)
            .offset(q.offset)
            .subquery("page")
        )
    else:
        page = _merged_page(ids, q, now, walk=not q.search)
    assignee = aliased(User)
    stmt: Select[Any] = (
        select(  # type: ignore[assignment]
            Conversation.id,
            Conversation.brand_id,
            Brand.name,
            Brand.target_response_minutes,
            Conversation.status,
            Conversation.subject,
            Conversation.last_post_at,
            Conversation.post_count,
            Identity.handle,
            Identity.display_name,
            st.network,
            st.sentiment,
            st.intent,
            st.urgency,
            st.language,
            st.waiting_since,
            st.priority_key,
            st.version,
            st.assignee_id,
            assignee.name,
        )
        .select_from(page)
        .join(st, st.conversation_id == page.c.cid)
        .join(Conversation, Conversation.id == page.c.cid)
        .join(Brand, Brand.id == st.brand_id)
        .join(Identity, Identity.id == Conversation.identity_id)
        .outerjoin(assignee, assignee.id == st.assignee_id)
        .order_by(page.c.k.desc(), page.c.cid.desc())
    )
    rows = [InboxRow(*r, []) for r in session.execute(stmt)]  # type: ignore[call-arg]
    for row in rows:
        row.status = _value(row.status)
    if rows:
        tags = tags_of(session, [r.id for r in rows])
        for row in rows:
            row.tags = tags.get(row.id, [])
    return rows


def _merged_page(ids: Select[Any], q: InboxQuery, now: datetime, walk: bool) -> Any:
    """The page of several brands' inboxes: (cid, k) ordered by the priority, which divides
    each brand's stored key by that brand's response target.

    Within one brand that order is the stored key's, so the page is among the first
    ``offset + limit`` of every brand: each brand's are read by a walk of the inbox index
    (``walk``), and only those are sorted, instead of every open conversation of every
    brand. A search has few rows and runs once, so it sorts them all.
    """
    st = ConversationState
    cid: Any
    bid: Any
    pk: Any
    if walk:
        firsts = [
            select(
                ids.where(st.brand_id == brand_id)
                .add_columns(st.brand_id.label("bid"), st.priority_key.label("pk"))
                .order_by(st.priority_key.desc(), st.conversation_id.desc())
                .limit(q.offset + q.limit)
                .subquery()
            )
            for brand_id in sorted(set(q.brand_ids))
        ]
        rows = union_all(*firsts).subquery("firsts")
        cid, bid, pk = rows.c.cid, rows.c.bid, rows.c.pk
        base: Select[Any] = select(cid).select_from(rows)
    else:
        cid, bid, pk = st.conversation_id, st.brand_id, st.priority_key
        base = ids
    key = (pk + now.timestamp()) / (Brand.target_response_minutes * 60.0)
    return (
        base.join(Brand, Brand.id == bid)
        .add_columns(key.label("k"))
        .order_by(key.desc(), cid.desc())
        .limit(q.limit)
        .offset(q.offset)
        .subquery("page")
    )


def _value(status: object) -> str:
    return str(status.value if isinstance(status, ConversationStatus) else status)


def tags_of(session: Session, conv_ids: Sequence[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    for cid, tag in session.execute(
        select(ConversationTag.conversation_id, ConversationTag.tag)
        .where(ConversationTag.conversation_id.in_(conv_ids))
        .order_by(ConversationTag.tag)
    ):
        found[cid].append(tag)
    return found


def brand_tags(session: Session, brand_ids: Sequence[int]) -> list[str]:
    if not brand_ids:
        return []
    return list(
        session.scalars(
            select(ConversationTag.tag)
            .where(ConversationTag.brand_id.in_(brand_ids))
            .distinct()
            .order_by(ConversationTag.tag)
            .limit(200)
        )
    )


# ------------------------------------------------------------------ one conversation


@dataclass(slots=True)
class ThreadPost:
    id: int
    network: str
    text: str
    created_at: datetime
    from_brand: bool
    url: str | None
    handle: str | None
    author_name: str | None
    sentiment: str | None
    sentiment_score: float | None
    intent: str | None
    intent_score: float | None
    urgency: int | None
    language: str | None
    # Character spans of the text that the brand's listening queries matched.
    spans: list[tuple[int, int]] = field(default_factory=list)


def thread(session: Session, conv_id: int) -> list[ThreadPost]:
    rows = session.execute(
        select(
            Post.id,
            Post.network,
            Post.text,
            Post.created_at,
            Post.from_brand,
            Post.url,
            Identity.handle,
            Identity.display_name,
            Post.sentiment,
            Post.sentiment_score,
            Post.intent,
            Post.intent_score,
            Post.urgency,
            Post.language,
        )
        .join(ConversationPost, ConversationPost.post_id == Post.id)
        .join(Identity, Identity.id == Post.identity_id)
        .where(ConversationPost.conversation_id == conv_id)
        .order_by(Post.created_at, Post.id)
    ).all()
    return [ThreadPost(*r) for r in rows]  # type: ignore[call-arg]


def listening_texts(session: Session, brand_id: int) -> list[str]:
    """The texts of the brand's enabled listening queries, oldest first."""
    return list(
        session.scalars(
            select(ListeningQuery.query)
            .where(ListeningQuery.brand_id == brand_id, ListeningQuery.enabled.is_(True))
            .order_by(ListeningQuery.id)
        )
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
    return [(i, b, _value(s), subj, last, net) for i, b, s, subj, last, net in rows]


def notes(session: Session, conv_id: int) -> list[tuple[Note, str | None]]:
    rows = session.execute(
        select(Note, User.name)
        .outerjoin(User, User.id == Note.author_id)
        .where(Note.conversation_id == conv_id)
        .order_by(Note.created_at, Note.id)
    ).all()
    return [(n, name) for n, name in rows]


def replies(session: Session, conv_id: int) -> list[tuple[Reply, str | None]]:
    rows = session.execute(
        select(Reply, User.name)
        .outerjoin(User, User.id == Reply.author_id)
        .where(Reply.conversation_id == conv_id)
        .order_by(Reply.created_at, Reply.id)
    ).all()
    return [(r, name) for r, name in rows]


def add_tag(session: Session, conv: Conversation, tag: str) -> None:
    if session.get(ConversationTag, (conv.id, tag)) is None:
        session.add(ConversationTag(conversation_id=conv.id, tag=tag, brand_id=conv.brand_id))
        session.flush()


def remove_tag(session: Session, conv: Conversation, tag: str) -> None:
    session.execute(
        delete(ConversationTag).where(
            ConversationTag.conversation_id == conv.id, ConversationTag.tag == tag
        )
    )


# ------------------------------------------------------------------ spike alerts


def _alerts() -> Table | None:
    """The spike detector's table, when this build has it (``earful.models.alert``)."""
    return Base.metadata.tables.get("alerts")


def open_alerts(
    session: Session, brand_ids: Sequence[int], limit: int = 20
) -> list[dict[str, Any]]:
    """Open (not acknowledged) spike alerts of these brands, newest first, as rows."""
    table = _alerts()
    if table is None or not brand_ids:
        return []
    c = table.c
    stmt = select(table).where(c.brand_id.in_(brand_ids))
    if "acknowledged_at" in c:
        stmt = stmt.where(c.acknowledged_at.is_(None))
    return [dict(r._mapping) for r in session.execute(stmt.order_by(c.id.desc()).limit(limit))]


def alerts_after(session: Session, after: int, limit: int = 100) -> list[dict[str, Any]]:
    """Alerts raised after the one with id ``after`` (any brand: the hub scopes them)."""
    table = _alerts()
    if table is None:
        return []
    stmt = select(table).where(table.c.id > after).order_by(table.c.id).limit(limit)
    return [dict(r._mapping) for r in session.execute(stmt)]


def last_alert_id(session: Session) -> int:
    table = _alerts()
    if table is None:
        return 0
    return int(session.scalar(select(func.max(table.c.id))) or 0)


# ------------------------------------------------------------------ state maintenance


def _upsert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(ConversationState)


def refresh_states(session: Session, conv_ids: Sequence[int]) -> None:
    """Recompute labels, SLA clock and priority of these conversations from their posts.

    Keeps the assignee; bumps the version of rows that already existed, so an open
    reply form sees that the customer wrote again.
    """
    ids = sorted(set(conv_ids))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        convs = {
            cid: (brand, count, target, _value(status))
            for cid, brand, count, target, status in session.execute(
                select(
                    Conversation.id,
                    Conversation.brand_id,
                    Conversation.post_count,
                    Brand.target_response_minutes,
                    Conversation.status,
                )
                .join(Brand, Brand.id == Conversation.brand_id)
                .where(Conversation.id.in_(chunk))
            )
        }
        posts: dict[int, list[Any]] = defaultdict(list)
        for row in session.execute(
            select(
                ConversationPost.conversation_id,
                Post.created_at,
                Post.from_brand,
                Post.network,
                Post.language,
                Post.sentiment,
                Post.sentiment_score,
                Post.intent,
                Post.urgency,
            )
            .join(Post, Post.id == ConversationPost.post_id)
            .where(ConversationPost.conversation_id.in_(chunk))
            .order_by(ConversationPost.conversation_id, Post.created_at, Post.id)
        ):
            posts[row[0]].append(row)
        values = []
        now = utcnow()
        for cid, (brand_id, count, target, status) in convs.items():
            items = posts.get(cid, [])
            customer = [p for p in items if not p.from_brand]
            latest = customer[-1] if customer else None
            waiting: datetime | None = None
            first_response: datetime | None = None
            for p in items:
                if p.from_brand:
                    waiting = None
                    if first_response is None and customer:
                        first_response = p.created_at
                elif waiting is None:
                    waiting = p.created_at
            s = (
                prio.score(latest.urgency, latest.sentiment, latest.sentiment_score)
                if latest
                else 0.0
            )
            values.append(
                {
                    "conversation_id": cid,
                    "brand_id": brand_id,
                    "status": status,
                    "version": 1,
                    "seen_post_count": count,
                    "network": items[-1].network if items else None,
                    "language": latest.language if latest else None,
                    "sentiment": latest.sentiment if latest else None,
                    "sentiment_score": latest.sentiment_score if latest else None,
                    "intent": latest.intent if latest else None,
                    "urgency": latest.urgency if latest else None,
                    "waiting_since": waiting,
                    "first_response_at": first_response,
                    "priority_key": prio.priority_key(s, waiting, target),
                    "updated_at": now,
                }
            )
        if not values:
            continue
        stmt = _upsert(session)
        excluded = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=["conversation_id"],
            set_={
                "version": ConversationState.version + 1,
                "status": excluded.status,
                "seen_post_count": excluded.seen_post_count,
                "network": excluded.network,
                "language": excluded.language,
                "sentiment": excluded.sentiment,
                "sentiment_score": excluded.sentiment_score,
                "intent": excluded.intent,
                "urgency": excluded.urgency,
                "waiting_since": excluded.waiting_since,
                "first_response_at": excluded.first_response_at,
                "priority_key": excluded.priority_key,
                "updated_at": excluded.updated_at,
            },
        )
        session.execute(stmt, values)
    session.expire_all()


def stale_conversations(session: Session, limit: int = 5000) -> list[int]:
    """Conversations whose state is missing or behind their posts."""
    return list(
        session.scalars(
            select(Conversation.id)
            .outerjoin(ConversationState, ConversationState.conversation_id == Conversation.id)
            .where(
                or_(
                    ConversationState.conversation_id.is_(None),
                    ConversationState.seen_post_count != Conversation.post_count,
                )
            )
            .limit(limit)
        )
    )


def last_post_id(session: Session) -> int:
    return int(session.scalar(select(func.max(ConversationPost.post_id))) or 0)


def posts_after(session: Session, after: int, limit: int = 5000) -> list[tuple[int, int, int]]:
    """(brand id, conversation id, post id) of posts threaded after ``after``."""
    rows = session.execute(
        select(Conversation.brand_id, ConversationPost.conversation_id, ConversationPost.post_id)
        .join(Conversation, Conversation.id == ConversationPost.conversation_id)
        .where(ConversationPost.post_id > after)
        .order_by(ConversationPost.post_id)
        .limit(limit)
    ).all()
    return [(b, c, p) for b, c, p in rows]


def bump_version(session: Session, conv_id: int) -> None:
    session.execute(
        update(ConversationState)
        .where(ConversationState.conversation_id == conv_id)
        .values(version=ConversationState.version + 1, updated_at=utcnow())
    )


def answered(session: Session, st: ConversationState, target_minutes: int) -> None:
    """The brand answered: the SLA clock stops until the customer writes again."""
    now = utcnow()
    if st.waiting_since is not None and st.first_response_at is None:
        st.first_response_at = now
    st.waiting_since = None
    s = prio.score(st.urgency, st.sentiment, st.sentiment_score)
    st.priority_key = prio.priority_key(s, None, target_minutes)
