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
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from earful.auth.service import Principal, audit
from earful.errors import BadInput, NotFound
from earful.models import (
    Alert,
    Conversation,
    ConversationPost,
    ConversationState,
    ConversationTag,
    CsatSurvey,
    Customer,
    DeadLetter,
    Erasure,
    ErasureRequest,
    Handoff,
    Identity,
    JobKind,
    LabelCorrection,
    LinkSuggestion,
    Note,
    OutboundAttempt,
    OutboundJob,
    Post,
    Reply,
)
from earful.models.customer import erasure_key
from earful.pipeline.repository import lock_ingest

REDACTED = "[erased]"

# Tables whose rows can hold a customer's data, and are handled below.
HANDLED = frozenset(
    {"customers", "identities", "posts", "conversations", "conversation_posts",
     "conversation_states", "conversation_tags", "notes", "replies", "outbound_jobs",
     "outbound_attempts", "handoffs", "dead_letters", "alerts", "erasures", "audit_events",
     "csat_surveys", "label_corrections", "link_suggestions"}
)  # fmt: skip
# Tables that hold no customer data (the brand's own settings, agents, counters).
HOLDS_NO_CUSTOMER_DATA = frozenset(
    {"brands", "users", "memberships", "api_tokens", "sign_in_throttles", "agent_signatures",
     "canned_replies", "engagement_settings", "listening_queries", "saved_views", "sources",
     "holidays", "sla_policies", "retention_policies", "erasure_requests",
     "mention_counts", "alembic_version", "posts_fts", "posts_fts_bulk",
     "posts_fts_data", "posts_fts_idx", "posts_fts_docsize", "posts_fts_config",
     "csat_settings", "shift_post_settings",
     "user_sessions", "totp_credentials", "recovery_codes", "sign_in_policies"}
    # Notifications and event webhooks keep ids and counts; their text is in outbound_jobs.
    | {"notification_targets", "notifications", "webhook_endpoints", "webhook_events",
       "webhook_deliveries"}
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
    # A batch being stored meanwhile either commits first (its posts are found below) or
    # waits and then finds the tombstones: a new post of theirs never survives.
    lock_ingest(session.connection())
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
    # Accounts only suggested to them that never wrote (an address a handoff went to):
    # nobody else's, so they go too once their suggestions do.
    suggested = set(
        session.scalars(
            select(LinkSuggestion.other_id).where(LinkSuggestion.identity_id.in_(ident_ids))
        )
    ) | set(
        session.scalars(
            select(LinkSuggestion.identity_id).where(LinkSuggestion.other_id.in_(ident_ids))
        )
    )
    job_ids = list(session.scalars(jobs)) + _messages_about(session, set(conv_ids), set(post_ids))
    for stmt in (
        delete(CsatSurvey).where(CsatSurvey.conversation_id.in_(conv_ids)),
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
        delete(LabelCorrection).where(LabelCorrection.post_id.in_(post_ids)),
        delete(Post).where(Post.id.in_(post_ids)),
        delete(LinkSuggestion).where(
            or_(LinkSuggestion.identity_id.in_(ident_ids), LinkSuggestion.other_id.in_(ident_ids))
        ),
        delete(Identity).where(Identity.id.in_(ident_ids)),
    ):
        session.execute(stmt, execution_options={"synchronize_session": False})
    _drop_unwritten(session, suggested - set(ident_ids))
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


def _drop_unwritten(session: Session, ids: set[int]) -> None:
    """Of these accounts, those with no posts, no customer and no suggestion left."""
    if not ids:
        return
    left = set(
        session.scalars(select(LinkSuggestion.identity_id).where(LinkSuggestion.other_id.in_(ids)))
    ) | set(
        session.scalars(select(LinkSuggestion.other_id).where(LinkSuggestion.identity_id.in_(ids)))
    )
    written = set(session.scalars(select(Post.identity_id).where(Post.identity_id.in_(ids))))
    unlinked = select(Identity.id).where(Identity.id.in_(ids), Identity.customer_id.is_(None))
    alone = set(session.scalars(unlinked))
    gone = sorted(alone - left - written)
    if gone:
        session.execute(delete(Identity).where(Identity.id.in_(gone)),
                        execution_options={"synchronize_session": False})  # fmt: skip


def _messages_about(session: Session, conv_ids: set[int], post_ids: set[int]) -> list[int]:
    """Notifications and event webhooks about these conversations, or quoting these posts
    (a spike alert's sample post): their text quotes the customer."""
    if not conv_ids and not post_ids:
        return []
    q = select(OutboundJob).where(OutboundJob.kind.in_([JobKind.NOTIFY, JobKind.EVENT]))
    return [
        j.id
        for j in session.scalars(q)
        if (j.payload or {}).get("conversation_id") in conv_ids
        or (j.payload or {}).get("post_id") in post_ids
    ]


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


# ---------------------------------------------------------------- requests that survive


def brands_of(session: Session, identity: Identity) -> list[int]:
    """The brands with a conversation of this customer (any linked account)."""
    ids = [i.id for i in linked_identities(session, identity)]
    return list(
        session.scalars(
            select(Conversation.brand_id)
            .where(Conversation.identity_id.in_(ids))
            .distinct()
            .order_by(Conversation.brand_id)
        )
    )


def record_request(session: Session, identity: Identity, by: str) -> ErasureRequest:
    """Write down that this customer is to be erased. The caller commits it before
    :func:`carry_out`, so a process killed in between leaves the request pending and
    ``earful customers erase --resume`` (or the next outbound round) finishes it."""
    request = ErasureRequest(identity_id=identity.id, requested_by=by[:320])
    session.add(request)
    session.flush()
    return request


def carry_out(
    session: Session,
    request: ErasureRequest,
    now: datetime,
    principal: Principal | None = None,
) -> ErasureReport:
    """Erase the request's customer, audit it in each of their brands and mark it done,
    in the caller's transaction. An identity already gone (erased meanwhile) is done."""
    identity = session.get(Identity, request.identity_id)
    report = ErasureReport()
    if identity is not None:
        brands = brands_of(session, identity)
        report = erase(session, identity)
        for brand_id in brands:
            audit(session, principal, "customer.erase", brand_id=brand_id,
                  target=f"identity:{request.identity_id}", count=report.posts)  # fmt: skip
    session.execute(
        update(ErasureRequest).where(ErasureRequest.id == request.id).values(finished_at=now)
    )
    return report


def pending(session: Session) -> list[ErasureRequest]:
    return list(
        session.scalars(
            select(ErasureRequest)
            .where(ErasureRequest.finished_at.is_(None))
            .order_by(ErasureRequest.id)
        )
    )


def resume_pending(session: Session, now: datetime) -> list[ErasureReport]:
    """Finish every erasure recorded but cut short."""
    return [carry_out(session, request, now) for request in pending(session)]


@dataclass(slots=True)
class ErasurePreview:
    """What an erasure of this customer would take, for the page that asks to confirm."""

    accounts: list[tuple[str, str]]  # (network, handle or id)
    posts: int
    conversations: int
    brand_ids: list[int]
    confirm_word: str  # what the admin types to confirm: the handle (or the id)


def preview(session: Session, identity: Identity) -> ErasurePreview:
    idents = linked_identities(session, identity)
    ids = [i.id for i in idents]
    return ErasurePreview(
        accounts=[(i.network, i.handle or i.external_id) for i in idents],
        posts=session.scalar(select(func.count()).where(Post.identity_id.in_(ids))) or 0,
        conversations=session.scalar(select(func.count()).where(Conversation.identity_id.in_(ids)))
        or 0,
        brand_ids=brands_of(session, identity),
        confirm_word=identity.handle or identity.external_id,
    )
