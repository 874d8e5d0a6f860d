"""Retention: a brand's conversations quiet for more than N days are deleted or anonymised.

``delete`` removes the conversation with everything hung on it (notes, replies, tags,
triage state, outbound jobs, handoffs) and its posts; ``anonymise`` keeps the rows the
dashboard counts (posts' times and labels, the conversation's status and times) but drops
every word and every name: post text, raw payload and link go, authors become one
anonymous account per network, notes, replies, jobs and handoffs are deleted. Either way
accounts and customers left with nothing are deleted, and the search index follows the
posts' text. A post another brand's live conversation holds stays, for that brand.

Never commits; :func:`run_due` is called by ``earful retention run`` and by each outbound
round of ``earful run``, and each brand's run is audited (counts only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import Session, aliased

from earful.audit import repository as audit_log
from earful.auth.service import Principal, audit
from earful.errors import BadInput, NotFound
from earful.models import (
    RETENTION_MODES,
    Alert,
    Brand,
    Conversation,
    ConversationPost,
    ConversationState,
    ConversationTag,
    Customer,
    Handoff,
    Identity,
    Note,
    OutboundAttempt,
    OutboundJob,
    Post,
    Reply,
    RetentionPolicy,
)

ANONYMOUS_ID = "earful:anonymous"  # no network's account ids contain a colon and this
RUN_EVERY = timedelta(hours=1)  # how often `earful run` looks again
MAX_DAYS = 36_500


@dataclass(slots=True)
class RetentionResult:
    brand: str
    mode: str
    conversations: int = 0
    posts: int = 0
    identities: int = 0


@dataclass(slots=True, frozen=True)
class RetentionView:
    """A brand's window and its last run, as the admin page shows them."""

    mode: str | None  # None: conversations are kept for good
    days: int | None
    last_run_at: datetime | None
    # The last run's counts, read back from its audit entry (the log keeps counts only).
    conversations: int = 0
    posts: int = 0
    identities: int = 0


def view(session: Session, brand: Brand) -> RetentionView:
    policy = session.get(RetentionPolicy, brand.id)
    last = audit_log.latest(session, brand.id, "retention.run")
    counts = dict(last.details or {}) if last is not None else {}
    return RetentionView(
        mode=policy.mode if policy else None,
        days=policy.days if policy else None,
        last_run_at=last.at if last is not None else None,
        conversations=int(counts.get("conversations", 0)),
        posts=int(counts.get("posts", 0)),
        identities=int(counts.get("identities", 0)),
    )


def set_policy(
    session: Session, principal: Principal | None, brand: Brand, mode: str, days: int
) -> RetentionPolicy:
    if mode not in RETENTION_MODES:
        raise BadInput(f"retention mode must be one of {', '.join(RETENTION_MODES)}, not {mode!r}")
    if not 1 <= days <= MAX_DAYS:
        raise BadInput(f"retention days must be between 1 and {MAX_DAYS}, not {days}")
    policy = session.get(RetentionPolicy, brand.id)
    if policy is None:
        policy = RetentionPolicy(brand_id=brand.id, mode=mode, days=days)
        session.add(policy)
    else:
        policy.mode, policy.days = mode, days
    session.flush()
    audit(session, principal, "retention.set", brand_id=brand.id, mode=mode, days=days)
    return policy


def clear_policy(session: Session, principal: Principal | None, brand: Brand) -> None:
    policy = session.get(RetentionPolicy, brand.id)
    if policy is None:
        raise NotFound(f"brand {brand.slug!r} keeps everything already")
    session.delete(policy)
    audit(session, principal, "retention.clear", brand_id=brand.id)


def run_due(
    session: Session, now: datetime, *, every: timedelta = RUN_EVERY, force: bool = False
) -> list[RetentionResult]:
    """Apply every brand's policy not applied in the last ``every`` (all with ``force``)."""
    results = []
    for policy in session.scalars(select(RetentionPolicy).order_by(RetentionPolicy.brand_id)):
        if not force and policy.last_run_at is not None and now - policy.last_run_at < every:
            continue
        results.append(apply(session, policy, now))
    return results


def apply(session: Session, policy: RetentionPolicy, now: datetime) -> RetentionResult:
    brand = session.get(Brand, policy.brand_id)
    assert brand is not None  # the policy cascades with its brand
    result = RetentionResult(brand.slug, policy.mode)
    cutoff = now - timedelta(days=policy.days)
    anonymous = _anonymous_ids(session)
    stale = select(Conversation.id).where(
        Conversation.brand_id == brand.id, Conversation.last_post_at < cutoff
    )
    if policy.mode == "anonymise":
        stale = stale.where(Conversation.identity_id.not_in(anonymous or [0]))
    conv_ids = list(session.scalars(stale))
    if conv_ids:
        post_ids = _posts_only_in(session, conv_ids)
        authors = set(session.scalars(select(Post.identity_id).where(Post.id.in_(post_ids)))) | set(
            session.scalars(select(Conversation.identity_id).where(Conversation.id.in_(conv_ids)))
        )
        _drop_work(session, conv_ids)
        if policy.mode == "delete":
            _delete(session, conv_ids, post_ids)
        else:
            _anonymise(session, conv_ids, post_ids)
        result.conversations, result.posts = len(conv_ids), len(post_ids)
        result.identities = _drop_orphans(session, authors - set(anonymous))
    policy.last_run_at = now
    audit(
        session,
        None,
        "retention.run",
        brand_id=brand.id,
        mode=policy.mode,
        days=policy.days,
        conversations=result.conversations,
        posts=result.posts,
        identities=result.identities,
    )
    session.flush()
    session.expire_all()
    return result


def _posts_only_in(session: Session, conv_ids: list[int]) -> list[int]:
    """The posts of these conversations that no other conversation holds."""
    held = aliased(ConversationPost)
    other = (
        select(held.post_id)
        .where(held.post_id == Post.id, held.conversation_id.not_in(conv_ids))
        .exists()
    )
    return list(
        session.scalars(
            select(Post.id)
            .join(ConversationPost, ConversationPost.post_id == Post.id)
            .where(ConversationPost.conversation_id.in_(conv_ids), ~other)
            .distinct()
        )
    )


def _drop_work(session: Session, conv_ids: list[int]) -> None:
    """What the team wrote and sent about these conversations: words and addresses."""
    jobs = select(OutboundJob.id).where(OutboundJob.conversation_id.in_(conv_ids))
    for stmt in (
        delete(OutboundAttempt).where(OutboundAttempt.job_id.in_(jobs)),
        delete(OutboundJob).where(OutboundJob.conversation_id.in_(conv_ids)),
        delete(Handoff).where(Handoff.conversation_id.in_(conv_ids)),
        delete(Reply).where(Reply.conversation_id.in_(conv_ids)),
        delete(Note).where(Note.conversation_id.in_(conv_ids)),
    ):
        session.execute(stmt, execution_options={"synchronize_session": False})


def _delete(session: Session, conv_ids: list[int], post_ids: list[int]) -> None:
    for stmt in (
        delete(ConversationTag).where(ConversationTag.conversation_id.in_(conv_ids)),
        delete(ConversationState).where(ConversationState.conversation_id.in_(conv_ids)),
        delete(ConversationPost).where(ConversationPost.conversation_id.in_(conv_ids)),
        delete(Conversation).where(Conversation.id.in_(conv_ids)),
        delete(Post).where(Post.id.in_(post_ids)),
    ):
        session.execute(stmt, execution_options={"synchronize_session": False})
    gone = set(post_ids)
    for alert in session.scalars(select(Alert)):
        kept = [p for p in (alert.post_ids or []) if int(p) not in gone]
        if len(kept) != len(alert.post_ids or []):
            session.execute(update(Alert).where(Alert.id == alert.id).values(post_ids=kept))


def _anonymise(session: Session, conv_ids: list[int], post_ids: list[int]) -> None:
    networks = set(session.scalars(select(Post.network).where(Post.id.in_(post_ids)).distinct()))
    networks |= set(
        session.scalars(
            select(Identity.network)
            .join(Conversation, Conversation.identity_id == Identity.id)
            .where(Conversation.id.in_(conv_ids))
            .distinct()
        )
    )
    for network in sorted(networks):
        anon = _anonymous(session, network)
        session.execute(
            update(Post)
            .where(Post.id.in_(post_ids), Post.network == network)
            .values(text="", raw=None, url=None, identity_id=anon),
            execution_options={"synchronize_session": False},
        )
        on_network = select(Identity.id).where(Identity.network == network)
        session.execute(
            update(Conversation)
            .where(Conversation.id.in_(conv_ids), Conversation.identity_id.in_(on_network))
            .values(identity_id=anon, subject=None),
            execution_options={"synchronize_session": False},
        )


def _anonymous_ids(session: Session) -> list[int]:
    return list(session.scalars(select(Identity.id).where(Identity.external_id == ANONYMOUS_ID)))


def _anonymous(session: Session, network: str) -> int:
    found = session.scalar(
        select(Identity.id).where(Identity.network == network, Identity.external_id == ANONYMOUS_ID)
    )
    if found is not None:
        return found
    anon = Identity(network=network, external_id=ANONYMOUS_ID, handle=None, display_name=None)
    session.add(anon)
    session.flush()
    return anon.id


def _drop_orphans(session: Session, identity_ids: set[int]) -> int:
    """Accounts with no post and no conversation left, then customers with no account."""
    if not identity_ids:
        return 0
    orphans = list(
        session.scalars(
            select(Identity.id).where(
                Identity.id.in_(identity_ids),
                ~exists().where(Post.identity_id == Identity.id),
                ~exists().where(Conversation.identity_id == Identity.id),
            )
        )
    )
    customers = set(
        session.scalars(
            select(Identity.customer_id).where(
                Identity.id.in_(orphans), Identity.customer_id.is_not(None)
            )
        )
    )
    session.execute(delete(Identity).where(Identity.id.in_(orphans)))
    if customers:
        session.execute(
            delete(Customer).where(
                Customer.id.in_(customers), ~exists().where(Identity.customer_id == Customer.id)
            )
        )
    return len(orphans)
