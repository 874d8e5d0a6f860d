"""All SQL of the inbox list and saved views. Every brand-data query takes the caller's
brand ids as its scope."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    func,
    literal_column,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from earful.conversations.repository import InboxRow, status_value, tags_of
from earful.models import (
    Brand,
    Conversation,
    ConversationPost,
    ConversationState,
    ConversationTag,
    Identity,
    Post,
    SavedView,
    User,
)
from earful.models.search import POSTGRES_TS_CONFIG, SQLITE_FTS_TABLE

TOKEN = re.compile(r"\w+", re.UNICODE)


# ------------------------------------------------------------------ scoped single rows


def saved_views(session: Session, user_id: int) -> list[SavedView]:
    return list(
        session.scalars(
            select(SavedView).where(SavedView.user_id == user_id).order_by(SavedView.name)
        )
    )


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
        row.status = status_value(row.status)
    if rows:
        tags = tags_of(session, [r.id for r in rows])
        for row in rows:
            row.tags = tags.get(row.id, [])
    return rows


def _merged_page(ids: Select[Any], q: InboxQuery, now: datetime, walk: bool) -> Any:
    """The page of several brands' inboxes: (cid, k) ordered by the stored key (the due
    time, the same clock for every brand).

    Each brand's order is the stored key's too, so the page is among the first
    ``offset + limit`` of every brand: each brand's are read by a walk of the inbox index
    (``walk``), and only those are sorted, instead of every open conversation of every
    brand. A search has few rows and runs once, so it sorts them all.
    """
    st = ConversationState
    cid: Any
    pk: Any
    if walk:
        firsts = [
            select(
                ids.where(st.brand_id == brand_id)
                .add_columns(st.priority_key.label("pk"))
                .order_by(st.priority_key.desc(), st.conversation_id.desc())
                .limit(q.offset + q.limit)
                .subquery()
            )
            for brand_id in sorted(set(q.brand_ids))
        ]
        rows = union_all(*firsts).subquery("firsts")
        cid, pk = rows.c.cid, rows.c.pk
        base: Select[Any] = select(cid).select_from(rows)
    else:
        cid, pk = st.conversation_id, st.priority_key
        base = ids
    return (
        base.add_columns(pk.label("k"))
        .order_by(pk.desc(), cid.desc())
        .limit(q.limit)
        .offset(q.offset)
        .subquery("page")
    )


# ------------------------------------------------------------------ one conversation


# ------------------------------------------------------------------ spike alerts


# ------------------------------------------------------------------ state maintenance


def get_readable_view(session: Session, view_id: int, user_id: int) -> SavedView | None:
    return session.scalar(
        select(SavedView).where(SavedView.id == view_id, SavedView.user_id == user_id)
    )
