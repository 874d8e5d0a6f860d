"""The inbox: the triaged list, saved views, and the conversation page's whole view
(thread with highlights, customer, notes, replies). Never commits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from earful.auth.access import access_brand_ids
from earful.auth.service import Principal
from earful.brands.service import access_brand
from earful.conversations import corrections as label_corrections
from earful.conversations import repository as conversations_repo
from earful.conversations import service as conversations
from earful.conversations import sla
from earful.conversations.schemas import ConversationSummary
from earful.conversations.service import access_conversation
from earful.customers import links
from earful.customers import repository as customers_repo
from earful.engagement import repository as engagement_repo
from earful.errors import BadInput, NotFound
from earful.inbox import repository as repo
from earful.inbox.schemas import STATUS_SETS, InboxFilters
from earful.listening.explain import explain, text_post
from earful.listening.query import Query
from earful.listening.service import listening_queries
from earful.models import (
    Brand,
    CannedReply,
    Conversation,
    ConversationState,
    Customer,
    Identity,
    LinkSuggestion,
    Note,
    Reply,
    Role,
    SavedView,
)
from earful.models.base import utcnow

PAGE_SIZE = 50


# ------------------------------------------------------------------ inbox


@dataclass(slots=True)
class InboxPage:
    rows: list[ConversationSummary]
    page: int
    has_more: bool


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
    targets = sla.targets_of(session, sorted({r.brand_id for r in rows}))
    return InboxPage(
        [conversations.summary(r, now, targets) for r in rows[:PAGE_SIZE]],
        filters.page,
        len(rows) > PAGE_SIZE,
    )


# ------------------------------------------------------------------ one conversation


@dataclass(slots=True)
class ConversationView:
    conversation: Conversation
    brand: Brand
    state: ConversationState
    summary: ConversationSummary
    posts: list[conversations_repo.ThreadPost]
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
    # Agents' corrections of the posts' labels, by post id (shown as "corrected by …").
    corrections: dict[int, list[label_corrections.Correction]]
    # Accounts that seem to be this customer's too, for an agent to link or dismiss.
    link_suggestions: list[tuple[LinkSuggestion, Identity]] = field(default_factory=list)


def view(session: Session, principal: Principal, conv_id: int) -> ConversationView:
    conv = access_conversation(session, principal, conv_id)
    st = conversations_repo.state_for_update(session, conv)
    brand = session.get(Brand, conv.brand_id)
    assert brand is not None
    now = utcnow()
    posts = conversations_repo.thread(session, conv.id)
    mark_matches(posts, listening_queries(session, brand))
    ident, customer, linked = customers_repo.identity_and_customer(session, conv.identity_id)
    tags = conversations_repo.tags_of(session, [conv.id]).get(conv.id, [])
    members = conversations.brand_members(session, conv.brand_id)
    row = conversations.summary_row(conv, brand, st, ident, tags, members)
    mine = {i.id for i in linked}
    suggested = [
        (s, session.get(Identity, s.other_id if s.identity_id in mine else s.identity_id))
        for s in links.suggestions(session, principal, conv.id)
    ]
    return ConversationView(
        link_suggestions=[(s, i) for s, i in suggested if i is not None],
        conversation=conv,
        brand=brand,
        state=st,
        summary=conversations.summary(row, now, sla.targets_of(session, [conv.brand_id])),
        posts=posts,
        identity=ident,
        customer=customer,
        identities=linked,
        others=customers_repo.other_conversations(
            session, [i.id for i in linked], access_brand_ids(principal), conv.id
        ),
        notes=conversations_repo.notes(session, conv.id),
        replies=engagement_repo.replies_of(session, conv.id),
        tags=tags,
        members=members,
        canned=engagement_repo.canned_replies(session, [conv.brand_id]),
        role=principal.roles[conv.brand_id],
        corrections=label_corrections.of_posts(session, [p.id for p in posts]),
    )


LABELS = ("sentiment", "intent", "urgency")


def labeled_by(
    post: conversations_repo.ThreadPost, corrections: list[label_corrections.Correction]
) -> dict[str, str]:
    """Who set each label of a customer post: "agent", "second tier" or "fast tier"."""
    if post.from_brand:
        return {}
    corrected = {c.field for c in corrections}
    model = "second tier" if post.tier2_version else "fast tier"
    return {f: "agent" if f in corrected else model for f in LABELS if getattr(post, f) is not None}


def mark_matches(posts: list[conversations_repo.ThreadPost], queries: list[Query]) -> None:
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


# ------------------------------------------------------------------ replies


# ------------------------------------------------------------------ canned replies, views


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


def access_saved_view(session: Session, principal: Principal, view_id: int) -> SavedView:
    view = repo.get_readable_view(session, view_id, principal.user_id)
    if view is None:
        raise NotFound("no such view")
    return view
