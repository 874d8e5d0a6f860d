"""Erasing one customer: every row that holds their data is deleted or redacted in one
transaction, and tombstones keep their accounts and posts from coming back.

What goes: their identities (and every identity linked to the same customer), the
customer record, their posts, the conversations they started (with those threads' other
posts by the brand, notes, replies, tags, triage state, outbound jobs and attempts,
handoffs), dead letters whose raw payload names them, their posts in alerts' samples.
What is redacted: their handles, names, email and ids where another conversation's note,
reply or outbound job mentions them. What stays: hashed tombstones (``erasures``) and
the audit log's record that an erasure happened (ids only).

Every table is classified in :data:`HANDLED` or :data:`HOLDS_NO_CUSTOMER_DATA`; a test
fails when a new table is in neither, so a new place for customer data cannot be missed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from earful.errors import BadInput, NotFound
from earful.models import (
    Alert,
    Conversation,
    ConversationPost,
    ConversationState,
    ConversationTag,
    Customer,
    DeadLetter,
    Erasure,
    Handoff,
    Identity,
    Note,
    OutboundAttempt,
    OutboundJob,
    Post,
    Reply,
)
from earful.models.customer import erasure_key

REDACTED = "[erased]"

# Tables whose rows can hold a customer's data, and are handled below.
HANDLED = frozenset(
    {"customers", "identities", "posts", "conversations", "conversation_posts",
     "conversation_states", "conversation_tags", "notes", "replies", "outbound_jobs",
     "outbound_attempts", "handoffs", "dead_letters", "alerts", "erasures", "audit_events"}
)  # fmt: skip
# Tables that hold no customer data (the brand's own settings, agents, counters).
HOLDS_NO_CUSTOMER_DATA = frozenset(
    {"brands", "users", "memberships", "api_tokens", "sign_in_throttles", "agent_signatures",
     "canned_replies", "engagement_settings", "listening_queries", "saved_views", "sources",
     "mention_counts", "alembic_version", "posts_fts", "posts_fts_bulk",
     "posts_fts_data", "posts_fts_idx", "posts_fts_docsize", "posts_fts_config"}
)  # fmt: skip


@dataclass(slots=True)
class ErasureReport:
    identities: int = 0
    posts: int = 0
    conversations: int = 0
    redacted: int = 0
    dead_letters: int = 0
    tombstones: int = 0
    markers: list[str] = field(default_factory=list, repr=False)


def find_identity(
    session: Session, network: str, *, handle: str | None = None, external_id: str | None = None
) -> Identity:
    if (handle is None) == (external_id is None):
        raise BadInput("name the customer's account by its handle or its network id")
    q = select(Identity).where(Identity.network == network)
    if handle is not None:
        q = q.where(func.lower(Identity.handle) == handle.lstrip("@").lower())
    else:
        q = q.where(Identity.external_id == external_id)
    found = session.scalars(q.limit(2)).all()
    if not found:
        raise NotFound(f"no {network} account {handle or external_id!r}")
    if len(found) > 1:
        raise BadInput(f"several {network} accounts are called {handle!r}: give the id")
    return found[0]


def erase(session: Session, identity: Identity) -> ErasureReport:
    """Erase the customer behind ``identity`` (never commits: the caller's transaction
    makes it all-or-nothing). Running it again erases whatever arrived since."""
    report = ErasureReport()
    idents = linked_identities(session, identity)
    ident_ids = [i.id for i in idents]
    customer = session.get(Customer, identity.customer_id) if identity.customer_id else None
    markers = _markers(idents, customer)
    report.markers = markers

    conv_ids = list(
        session.scalars(select(Conversation.id).where(Conversation.identity_id.in_(ident_ids)))
    )
    own_posts = set(session.scalars(select(Post.id).where(Post.identity_id.in_(ident_ids))))
    # The brand's answers inside their conversations mention them: those posts go too.
    brand_posts = set(
        session.scalars(
            select(Post.id)
            .join(ConversationPost, ConversationPost.post_id == Post.id)
            .where(ConversationPost.conversation_id.in_(conv_ids), Post.from_brand.is_(True))
        )
    )
    post_ids = sorted(own_posts | brand_posts)
    post_keys = session.execute(
        select(Post.network, Post.external_id).where(Post.id.in_(own_posts))
    ).all()

    # Tombstones first: a batch being ingested meanwhile finds them once this commits.
    keys = {erasure_key("author", i.network, i.external_id): "author" for i in idents}
    keys.update({erasure_key("post", n, e): "post" for n, e in post_keys})
    # Their single-word markers (handle, id, email), for bad records that cannot be parsed.
    keys.update({erasure_key("marker", "", m.lower()): "marker" for m in markers if " " not in m})
    known = set(session.scalars(select(Erasure.key).where(Erasure.key.in_(list(keys)))))
    session.add_all(Erasure(key=k, kind=kind) for k, kind in keys.items() if k not in known)
    report.tombstones = len(keys)

    jobs = select(OutboundJob.id).where(
        or_(
            OutboundJob.conversation_id.in_(conv_ids),
            OutboundJob.target.in_([e for _, e in post_keys] or [""]),
        )
    )
    job_ids = list(session.scalars(jobs))
    for stmt in (
        delete(OutboundAttempt).where(OutboundAttempt.job_id.in_(job_ids)),
        delete(OutboundJob).where(OutboundJob.id.in_(job_ids)),
        delete(Handoff).where(Handoff.conversation_id.in_(conv_ids)),
        delete(Reply).where(Reply.conversation_id.in_(conv_ids)),
        delete(Note).where(Note.conversation_id.in_(conv_ids)),
        delete(ConversationTag).where(ConversationTag.conversation_id.in_(conv_ids)),
        delete(ConversationState).where(ConversationState.conversation_id.in_(conv_ids)),
        delete(ConversationPost).where(
            or_(
                ConversationPost.conversation_id.in_(conv_ids),
                ConversationPost.post_id.in_(post_ids),
            )
        ),
        delete(Conversation).where(Conversation.id.in_(conv_ids)),
        delete(Post).where(Post.id.in_(post_ids)),
        delete(Identity).where(Identity.id.in_(ident_ids)),
    ):
        session.execute(stmt, execution_options={"synchronize_session": False})
    if customer is not None:
        session.execute(delete(Customer).where(Customer.id == customer.id))
    report.identities, report.posts, report.conversations = (
        len(ident_ids),
        len(post_ids),
        len(conv_ids),
    )
    report.dead_letters = _dead_letters(session, markers)
    report.redacted = _redact_mentions(session, markers)
    _drop_from_alerts(session, set(post_ids))
    session.expire_all()
    return report


def linked_identities(session: Session, identity: Identity) -> list[Identity]:
    """The identity and every other account linked to the same customer."""
    if identity.customer_id is None:
        return [identity]
    return list(
        session.scalars(select(Identity).where(Identity.customer_id == identity.customer_id))
    )


def _markers(idents: list[Identity], customer: Customer | None) -> list[str]:
    """The strings that identify them: handles, names, email, network ids (3+ chars)."""
    found: set[str] = set()
    for i in idents:
        found.update(v for v in (i.handle, i.display_name, i.external_id) if v)
    if customer is not None:
        found.update(v for v in (customer.display_name, customer.email) if v)
    return sorted((m for m in found if len(m) >= 3), key=len, reverse=True)


def _pattern(markers: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(m) for m in markers), re.IGNORECASE)


def _dead_letters(session: Session, markers: list[str]) -> int:
    """Bad payloads that carried their data (matched in Python: ``raw`` is bytes)."""
    if not markers:
        return 0
    needles = [m.lower().encode() for m in markers]
    doomed = [
        dl_id
        for dl_id, raw, reason in session.execute(
            select(DeadLetter.id, DeadLetter.raw, DeadLetter.reason)
        )
        if any(n in (raw or b"").lower() or n in (reason or "").lower().encode() for n in needles)
    ]
    if doomed:
        session.execute(delete(DeadLetter).where(DeadLetter.id.in_(doomed)))
    return len(doomed)


def _redact_mentions(session: Session, markers: list[str]) -> int:
    """Other conversations' notes, replies and jobs that name them: the names go."""
    if not markers:
        return 0
    pattern = _pattern(markers)
    count = 0
    targets: tuple[tuple[type[Note | Reply | OutboundJob | Handoff], tuple[str, ...]], ...] = (
        (Note, ("text",)),
        (Reply, ("text", "hold_reason")),
        (OutboundJob, ("text", "target", "result_url")),
        (Handoff, ("address",)),
    )
    for model, columns in targets:
        text_cols = [getattr(model, c) for c in columns]
        cond = or_(*(func.lower(c).contains(m.lower()) for c in text_cols for m in markers))
        for row in session.scalars(select(model).where(cond)):
            values: dict[str, Any] = {}
            for c in columns:
                value = getattr(row, c)
                if isinstance(value, str) and pattern.search(value):
                    values[c] = pattern.sub(REDACTED, value)
            if values:
                session.execute(
                    update(model).where(model.id == row.id).values(**values),  # type: ignore[attr-defined]
                    execution_options={"synchronize_session": False},
                )
                count += 1
    for job in session.scalars(select(OutboundJob).where(OutboundJob.payload.is_not(None))):
        payload = job.payload or {}
        text = str(payload)
        if pattern.search(text):
            session.execute(
                update(OutboundJob)
                .where(OutboundJob.id == job.id)
                .values(payload=_redact_doc(payload, pattern)),
                execution_options={"synchronize_session": False},
            )
            count += 1
    return count


def _redact_doc(doc: Any, pattern: re.Pattern[str]) -> Any:
    if isinstance(doc, str):
        return pattern.sub(REDACTED, doc)
    if isinstance(doc, list):
        return [_redact_doc(v, pattern) for v in doc]
    if isinstance(doc, dict):
        return {k: _redact_doc(v, pattern) for k, v in doc.items()}
    return doc


def _drop_from_alerts(session: Session, post_ids: set[int]) -> None:
    if not post_ids:
        return
    for alert in session.scalars(select(Alert)):
        kept = [p for p in (alert.post_ids or []) if int(p) not in post_ids]
        if len(kept) != len(alert.post_ids or []):
            session.execute(
                update(Alert).where(Alert.id == alert.id).values(post_ids=kept),
                execution_options={"synchronize_session": False},
            )
