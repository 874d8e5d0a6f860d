"""Inbox logic: triage, conversation work, replies with collision hold. Never commits."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from earful.auth import repository as auth_repo
from earful.auth.access import (
    access_brand,
    access_brand_id,
    access_brand_ids,
    access_canned,
    access_conversation,
    access_reply,
    access_saved_view,
    access_user_in_brand,
)
from earful.auth.service import Principal
from earful.errors import BadInput, Conflict
from earful.inbox import priority as prio
from earful.inbox import repository as repo
from earful.inbox.schemas import (
    STATUS_SETS,
    ConversationSummary,
    InboxFilters,
    ReplyOut,
)
from earful.listening.explain import explain, text_post
from earful.listening.parser import QuerySyntaxError, parse
from earful.listening.query import Query
from earful.listening.service import keyword_query
from earful.models import (
    Brand,
    CannedReply,
    Conversation,
    ConversationState,
    ConversationStatus,
    Customer,
    Identity,
    Note,
    Reply,
    ReplyStatus,
    Role,
    SavedView,
)
from earful.models.base import utcnow
from earful.replies import service as replies_service

PAGE_SIZE = 50
TAG = re.compile(r"^[\w][\w .:-]{0,63}$", re.UNICODE)


# ------------------------------------------------------------------ inbox


@dataclass(slots=True)
class InboxPage:
    rows: list[ConversationSummary]
    page: int
    has_more: bool


def _summary(row: repo.InboxRow, now: datetime) -> ConversationSummary:
    waited, overdue = prio.sla(row.waiting_since, now, row.target_minutes)
    return ConversationSummary(
        id=row.id,
        brand_id=row.brand_id,
        brand=row.brand_name,
        status=row.status,
        subject=row.subject,
        customer_handle=row.handle,
        customer_name=row.author_name,
        network=row.network,
        sentiment=row.sentiment,
        intent=row.intent,
        urgency=row.urgency,
        language=row.language,
        priority=round(prio.priority(row.priority_key, now, row.target_minutes), 3),
        waited_minutes=waited,
        overdue=overdue,
        assignee_id=row.assignee_id,
        assignee=row.assignee_name,
        tags=row.tags,
        last_post_at=row.last_post_at,
        post_count=row.post_count,
        version=row.version,
    )


def inbox(
    session: Session, principal: Principal, filters: InboxFilters, now: datetime | None = None
) -> InboxPage:
    now = now or utcnow()
    brand_ids = access_brand_ids(principal)
    if filters.brand:
        brand_ids = [access_brand(session, principal, filters.brand).id]
    q = repo.InboxQuery(
        brand_ids=brand_ids,
        statuses=STATUS_SETS[filters.status],
        network=filters.network or None,
        sentiment=filters.sentiment or None,
        intent=filters.intent or None,
        language=filters.language or None,
        tag=filters.tag or None,
        search=(filters.q or "").strip() or None,
        limit=PAGE_SIZE + 1,
        offset=(filters.page - 1) * PAGE_SIZE,
    )
    if filters.assignee == "me":
        q.assignee = principal.user_id
    elif filters.assignee == "none":
        q.unassigned = True
    elif filters.assignee:
        if not filters.assignee.isdigit():
            raise BadInput("assignee must be me, none or a user id")
        q.assignee = int(filters.assignee)
    rows = repo.inbox_page(session, q, now)
    return InboxPage(
        [_summary(r, now) for r in rows[:PAGE_SIZE]], filters.page, len(rows) > PAGE_SIZE
    )


# ------------------------------------------------------------------ one conversation


@dataclass(slots=True)
class ConversationView:
    conversation: Conversation
    brand: Brand
    state: ConversationState
    summary: ConversationSummary
    posts: list[repo.ThreadPost]
    identity: Identity
    customer: Customer | None
    identities: list[Identity]
    others: list[tuple[int, str, str, str | None, datetime, str]]
    notes: list[tuple[Note, str | None]]
    replies: list[tuple[Reply, str | None]]
    tags: list[str]
    members: list[tuple[int, str]]
    canned: list[CannedReply]
    role: Role


def view(session: Session, principal: Principal, conv_id: int) -> ConversationView:
    conv = access_conversation(session, principal, conv_id)
    st = repo.state_for_update(session, conv)
    brand = session.get(Brand, conv.brand_id)
    assert brand is not None
    now = utcnow()
    posts = repo.thread(session, conv.id)
    mark_matches(posts, listening_queries(session, brand))
    ident, customer, linked = repo.identity_and_customer(session, conv.identity_id)
    tags = repo.tags_of(session, [conv.id]).get(conv.id, [])
    members = [
        (uid, name)
        for uid, name, bid in auth_repo.members_of(session, [conv.brand_id])
        if bid == conv.brand_id
    ]
    assignee_name = next((n for uid, n in members if uid == st.assignee_id), None)
    row = repo.InboxRow(
        conv.id,
        conv.brand_id,
        brand.name,
        brand.target_response_minutes,
        str(conv.status.value),
        conv.subject,
        conv.last_post_at,
        conv.post_count,
        ident.handle,
        ident.display_name,
        st.network,
        st.sentiment,
        st.intent,
        st.urgency,
        st.language,
        st.waiting_since,
        st.priority_key,
        st.version,
        st.assignee_id,
        assignee_name,
        tags,
    )
    return ConversationView(
        conversation=conv,
        brand=brand,
        state=st,
        summary=_summary(row, now),
        posts=posts,
        identity=ident,
        customer=customer,
        identities=linked,
        others=repo.other_conversations(
            session, [i.id for i in linked], access_brand_ids(principal), conv.id
        ),
        notes=repo.notes(session, conv.id),
        replies=repo.replies(session, conv.id),
        tags=tags,
        members=members,
        canned=repo.canned_replies(session, [conv.brand_id]),
        role=principal.roles[conv.brand_id],
    )


def listening_queries(session: Session, brand: Brand) -> list[Query]:
    """What the brand listens for, as the matcher sees it: its enabled queries, or its
    plain keywords when it has none, and always an @mention of its own accounts."""
    texts = repo.listening_texts(session, brand.id)
    mentions = sorted(
        {
            "@" + str(h).lstrip("@")
            for names in (brand.handles or {}).values()
            for h in ([names] if isinstance(names, str) else names)
        }
    )
    fallback = keyword_query(mentions if texts else [*(brand.keywords or []), *mentions])
    queries = []
    for text in [*texts, *([fallback] if fallback else [])]:
        try:
            queries.append(parse(text))
        except QuerySyntaxError:  # saved queries are validated; an old one may not parse
            continue
    return queries


def mark_matches(posts: list[repo.ThreadPost], queries: list[Query]) -> None:
    """Set each post's ``spans``: where a query that matches it hit, merged and sorted."""
    for post in posts:
        found: list[tuple[int, int]] = []
        subject = text_post(
            post.text, network=post.network, author_handle=post.handle, language=post.language
        )
        for query in queries:
            why = explain(subject, query)
            if why.matched:
                found.extend((h.start, h.end) for h in why.hits)
        post.spans = merge_spans(found)


def merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _touch(session: Session, conv: Conversation) -> ConversationState:
    st = repo.state_for_update(session, conv)
    st.version += 1
    st.updated_at = utcnow()
    return st


def assign(
    session: Session, principal: Principal, conv_id: int, assignee: str
) -> ConversationState:
    conv = access_conversation(session, principal, conv_id, Role.AGENT)
    st = _touch(session, conv)
    if assignee == "none":
        st.assignee_id = None
    else:
        uid = principal.user_id if assignee == "me" else _int(assignee, "assignee")
        members = auth_repo.members_of(session, [conv.brand_id])
        st.assignee_id = access_user_in_brand(principal, members, uid, conv.brand_id)
    if conv.status == ConversationStatus.NEW:
        conv.status = ConversationStatus.OPEN
    st.status = conv.status.value
    session.flush()
    return st


def set_status(
    session: Session, principal: Principal, conv_id: int, status: str
) -> ConversationState:
    conv = access_conversation(session, principal, conv_id, Role.AGENT)
    try:
        new = ConversationStatus(status)
    except ValueError:
        raise BadInput("status must be new, open, waiting or resolved") from None
    st = _touch(session, conv)
    conv.status = new
    st.status = new.value
    session.flush()
    return st


def add_note(session: Session, principal: Principal, conv_id: int, text: str) -> Note:
    conv = access_conversation(session, principal, conv_id, Role.AGENT)
    text = text.strip()
    if not text:
        raise BadInput("a note needs some text")
    note = Note(
        conversation_id=conv.id, brand_id=conv.brand_id, author_id=principal.user_id, text=text
    )
    session.add(note)
    _touch(session, conv)
    session.flush()
    return note


def clean_tag(tag: str) -> str:
    tag = " ".join(tag.strip().lower().split())
    if not TAG.match(tag):
        raise BadInput("a tag is 1-64 letters, digits, spaces, dots, colons or dashes")
    return tag


def add_tag(session: Session, principal: Principal, conv_id: int, tag: str) -> Conversation:
    conv = access_conversation(session, principal, conv_id, Role.AGENT)
    repo.add_tag(session, conv, clean_tag(tag))
    _touch(session, conv)
    return conv


def remove_tag(session: Session, principal: Principal, conv_id: int, tag: str) -> Conversation:
    conv = access_conversation(session, principal, conv_id, Role.AGENT)
    repo.remove_tag(session, conv, clean_tag(tag))
    _touch(session, conv)
    return conv


# ------------------------------------------------------------------ replies


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
    st = repo.state_for_update(session, conv)
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
    return reply, st


def _answered(session: Session, conv: Conversation, st: ConversationState) -> None:
    brand = session.get(Brand, conv.brand_id)
    assert brand is not None
    repo.answered(session, st, brand.target_response_minutes)
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
    st = repo.state_for_update(session, conv)
    if st.version != seen_version:
        raise Conflict("the conversation changed again; read it and try once more")
    reply.status = ReplyStatus.QUEUED
    reply.hold_reason = None
    reply.based_on_version = seen_version
    _answered(session, conv, st)
    session.flush()
    replies_service.enqueue_reply(session, principal, reply)  # the outbound job
    return reply, st


def discard_reply(session: Session, principal: Principal, reply_id: int) -> Reply:
    reply = access_reply(session, principal, reply_id, Role.AGENT)
    if reply.status != ReplyStatus.HELD:
        raise Conflict("only a held reply can be discarded")
    reply.status = ReplyStatus.DISCARDED
    session.flush()
    return reply


# ------------------------------------------------------------------ canned replies, views

VARIABLE = re.compile(r"\{(customer|handle|agent|brand)\}")


def render_canned(body: str, *, customer: str, handle: str, agent: str, brand: str) -> str:
    values = {"customer": customer, "handle": handle, "agent": agent, "brand": brand}
    return VARIABLE.sub(lambda m: values[m.group(1)], body)


def canned_for(
    session: Session, principal: Principal, conv_id: int, canned_id: int
) -> tuple[Conversation, str]:
    conv = access_conversation(session, principal, conv_id, Role.AGENT)
    canned = access_canned(session, principal, canned_id)
    if canned.brand_id != conv.brand_id:
        raise BadInput("this canned reply belongs to another brand")
    ident, _, _ = repo.identity_and_customer(session, conv.identity_id)
    brand = session.get(Brand, conv.brand_id)
    assert brand is not None
    handle = f"@{ident.handle}" if ident.handle else ""
    text = render_canned(
        canned.body,
        customer=(ident.display_name or ident.handle or "there"),
        handle=handle,
        agent=principal.name.split()[0] if principal.name else "",
        brand=brand.name,
    )
    return conv, text


def create_canned(
    session: Session, principal: Principal, brand_slug: str, name: str, body: str
) -> CannedReply:
    brand = access_brand(session, principal, brand_slug, Role.ADMIN)
    if not name.strip() or not body.strip():
        raise BadInput("a canned reply needs a name and a body")
    canned = CannedReply(brand_id=brand.id, name=name.strip()[:100], body=body.strip())
    session.add(canned)
    session.flush()
    return canned


def delete_canned(session: Session, principal: Principal, canned_id: int) -> None:
    canned = access_canned(session, principal, canned_id)
    access_brand_id(principal, canned.brand_id, Role.ADMIN)
    session.delete(canned)
    session.flush()


def save_view(
    session: Session, principal: Principal, name: str, filters: InboxFilters
) -> SavedView:
    if not name.strip():
        raise BadInput("a saved view needs a name")
    if filters.brand:
        access_brand(session, principal, filters.brand)
    saved = SavedView(
        user_id=principal.user_id, name=name.strip()[:100], filters=filters.as_query_dict()
    )
    session.add(saved)
    session.flush()
    return saved


def delete_view(session: Session, principal: Principal, view_id: int) -> None:
    session.delete(access_saved_view(session, principal, view_id))
    session.flush()


def _int(value: str, what: str) -> int:
    if not value.isdigit():
        raise BadInput(f"{what} must be a number")
    return int(value)
