"""Engagement logic: signed replies, compliments, the preferred channel, job state.

Never commits: the request (or the worker's job) owns the transaction. Every action is
an :class:`OutboundJob`; nothing here talks to a network.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from earful.auth.access import access_brand_ids
from earful.auth.service import Principal, audit
from earful.conversations.service import access_conversation
from earful.engagement import compose
from earful.engagement import repository as repo
from earful.errors import BadInput, Conflict, NotFound
from earful.models import (
    Brand,
    Conversation,
    Identity,
    JobKind,
    JobState,
    OutboundJob,
    Post,
    Reply,
    Role,
)
from earful.models.base import utcnow

DEFAULT_THANKS = "Thank you so much for the kind words, {customer}! We'll tell the team."
ASK_CHANNEL = (
    "We'd like to sort this out for you. How should we continue: a direct message, "
    "email or phone? Just reply with the one you prefer."
)


def new_key() -> str:
    return uuid.uuid4().hex


# ------------------------------------------------------------------ signatures, checks


def agent_signature(session: Session, brand_id: int, user_id: int | None, name: str) -> str:
    settings = repo.settings(session, brand_id)
    override = repo.signature_override(session, brand_id, user_id) if user_id else None
    return compose.signature(settings.signature_format, name, override)


def _target(session: Session, conv: Conversation) -> Post:
    post = (
        repo.private_target(session, conv.id)
        if conv.private
        else repo.target_post(session, conv.id)
    )
    if post is None:
        raise Conflict("this conversation has no public post to answer on a network")
    return post


def _channel(conv: Conversation, post: Post) -> str:
    """Where the limit is counted: the network, or its private channel."""
    return compose.private_channel(post.network) if conv.private else post.network


def check_reply(session: Session, principal: Principal, conv: Conversation, text: str) -> str:
    """The signed reply, or BadInput (empty, over the network's limit) before anything is sent."""
    if not text or not text.strip():
        raise BadInput("a reply needs some text")
    post = _target(session, conv)
    sig = agent_signature(session, conv.brand_id, principal.user_id, principal.name)
    return compose.check_reply(text, _channel(conv, post), sig)


def private_recipient(ident: Identity, post: Post) -> str:
    """Whom the answer in a private conversation goes to, as the network's API wants:
    Messenger / Instagram by the page-scoped id (``user:`` tells it from a comment id),
    Mastodon under their direct status (``in-thread:``), email by the address, X by the
    user id, Bluesky chat in the conversation the message came in (``convo:``: a group's
    answer goes to the group, not to its last writer alone)."""
    if post.network in ("facebook", "instagram"):
        return f"user:{ident.external_id}"
    if post.network == "mastodon":
        return f"in-thread:{post.external_id}"
    if post.network == "bluesky" and post.external_id.startswith("chat:"):
        convo = post.external_id.split(":")[1]
        return f"convo:{convo}"
    return ident.external_id


def counter(
    session: Session, principal: Principal, conv_id: int, text: str
) -> compose.Counter | None:
    """The character counter for the reply box (None when there is nothing to answer)."""
    conv = access_conversation(session, principal, conv_id)
    post = (
        repo.private_target(session, conv.id)
        if conv.private
        else repo.target_post(session, conv.id)
    )
    if post is None:
        return None
    sig = agent_signature(session, conv.brand_id, principal.user_id, principal.name)
    return compose.count(text, _channel(conv, post), sig)


def queue_job(
    session: Session,
    conv: Conversation | None,
    brand_id: int,
    kind: JobKind,
    network: str,
    *,
    target: str | None = None,
    text: str | None = None,
    author_id: int | None = None,
    key: str | None = None,
    **fields: object,
) -> OutboundJob:
    key = key or new_key()
    existing = repo.job_by_key(session, key)
    if existing is not None:  # the same action asked twice (a rule, a double click)
        return existing
    job = OutboundJob(
        brand_id=brand_id,
        conversation_id=conv.id if conv else None,
        kind=kind,
        network=network,
        target=target,
        text=text,
        author_id=author_id,
        idempotency_key=key,
        state=JobState.QUEUED,
        attempts=0,
        next_attempt_at=utcnow(),
        payload={},
        **fields,
    )
    session.add(job)
    session.flush()
    return job


# ------------------------------------------------------------------ replies


def _signed_reply(
    session: Session, principal: Principal, conv_id: int, text: str, **fields: object
) -> OutboundJob:
    """A public reply signed by the agent, checked for the network, to its newest post."""
    conv = access_conversation(session, principal, conv_id, Role.AGENT)
    signed = check_reply(session, principal, conv, text)
    post = _target(session, conv)
    if conv.private:  # back on the same private channel, never in public
        return _private_reply(session, principal, conv, post, signed, **fields)
    return queue_job(
        session, conv, conv.brand_id, JobKind.REPLY, post.network,
        target=post.external_id, text=signed, author_id=principal.user_id,
        **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def _private_reply(
    session: Session,
    principal: Principal,
    conv: Conversation,
    post: Post,
    signed: str,
    **fields: object,
) -> OutboundJob:
    ident = session.get(Identity, post.identity_id)
    assert ident is not None
    job = queue_job(
        session, conv, conv.brand_id, JobKind.DIRECT_MESSAGE, post.network,
        target=private_recipient(ident, post), text=signed,
        author_id=principal.user_id, **fields,  # type: ignore[arg-type]
    )  # fmt: skip
    if post.network == "email":  # the mail sender threads the answer under theirs
        subject = conv.subject or "your message"
        brand = session.get(Brand, conv.brand_id)
        support = ((brand.handles or {}).get("email") or [None])[0] if brand else None
        job.payload = {
            "conversation_id": conv.id,
            "in_reply_to": post.external_id,
            "subject": subject if subject.lower().startswith("re:") else f"Re: {subject}",
            **({"from": f"{brand.name} <{support}>"} if brand and support else {}),
        }
    return job


def enqueue_reply(session: Session, principal: Principal, reply: Reply) -> OutboundJob:
    """Queue the send of an inbox reply that is (now) ``queued``: signed, checked, threaded."""
    return _signed_reply(
        session, principal, reply.conversation_id, reply.text,
        reply_id=reply.id, key=f"reply-{reply.id}",
    )  # fmt: skip


def reply(session: Session, principal: Principal, conv_id: int, text: str) -> OutboundJob:
    """A public signed reply straight to the queue (asking for the preferred channel)."""
    return _signed_reply(session, principal, conv_id, text)


# ------------------------------------------------------------------ compliments

COMPLIMENT_ACTIONS = ("thank", "like", "repost")
# How far back each round looks for compliments to act on (the rules are idempotent).
RULE_LOOKBACK = timedelta(days=2)


def _thanks(session: Session, conv: Conversation, brand: Brand) -> str:
    settings = repo.settings(session, conv.brand_id)
    ident = session.get(Identity, conv.identity_id)
    who = (ident.display_name or ident.handle or "there") if ident else "there"
    template = settings.thank_template or DEFAULT_THANKS
    return template.replace("{customer}", who).replace("{brand}", brand.name)


def compliment(
    session: Session,
    principal: Principal | None,
    conv: Conversation,
    actions: tuple[str, ...] = COMPLIMENT_ACTIONS,
    *,
    by_rule: bool = False,
) -> list[OutboundJob]:
    """Thank, like and/or repost the customer's newest post; each is its own job, once."""
    unknown = set(actions) - set(COMPLIMENT_ACTIONS)
    if unknown or not actions:
        raise BadInput("compliment actions are thank, like and repost")
    post = repo.target_post(session, conv.id)  # public posts only, even in a DM thread
    if post is None:
        raise Conflict("this conversation has no public post to thank, like or repost")
    brand = session.get(Brand, conv.brand_id)
    assert brand is not None
    author = principal.user_id if principal else None
    origin = "rule" if by_rule else "click"
    jobs = []
    for action in actions:
        key = f"{action}-{post.id}" if action != "thank" else f"thank-{conv.id}-{post.id}"
        if action == "thank":
            sig = (
                agent_signature(session, conv.brand_id, principal.user_id, principal.name)
                if principal
                else ""
            )
            text = compose.check_reply(_thanks(session, conv, brand), post.network, sig)
            jobs.append(
                queue_job(
                    session,
                    conv,
                    conv.brand_id,
                    JobKind.REPLY,
                    post.network,
                    target=post.external_id,
                    text=text,
                    author_id=author,
                    key=key,
                )
            )
        else:
            kind = JobKind.LIKE if action == "like" else JobKind.REPOST
            jobs.append(
                queue_job(
                    session,
                    conv,
                    conv.brand_id,
                    kind,
                    post.network,
                    target=post.external_id,
                    author_id=author,
                    key=key,
                )
            )
        jobs[-1].payload = dict(jobs[-1].payload or {}, origin=origin)
    session.flush()
    return jobs


def compliment_click(
    session: Session, principal: Principal, conv_id: int, actions: tuple[str, ...]
) -> list[OutboundJob]:
    conv = access_conversation(session, principal, conv_id, Role.AGENT)
    jobs = compliment(session, principal, conv, actions)
    audit(session, principal, "engagement.compliment", brand_id=conv.brand_id,
          target=f"conversation:{conv.id}", kind=",".join(actions))  # fmt: skip
    return jobs


def apply_compliment_rules(session: Session, conv_ids: list[int]) -> list[OutboundJob]:
    """Per-brand rules: compliments above a score are thanked, liked, reposted by themselves.

    Each action has its own idempotency key (per post), so a conversation seen again
    queues nothing new."""
    jobs: list[OutboundJob] = []
    for conv_id in conv_ids:
        conv = session.get(Conversation, conv_id)
        if conv is None:
            continue
        rules = repo.settings(session, conv.brand_id).compliment_rules or {}
        actions = tuple(a for a in COMPLIMENT_ACTIONS if rules.get(a))
        if not actions:
            continue
        post = repo.target_post(session, conv.id)
        if post is None or post.intent != "compliment":
            continue
        if (post.sentiment_score or 0.0) < float(rules.get("min_score", 0.0)):
            continue
        jobs.extend(compliment(session, None, conv, actions, by_rule=True))
    return jobs


def compliment_round(
    session: Session, now: datetime, lookback: timedelta = RULE_LOOKBACK
) -> list[OutboundJob]:
    """Run the brands' compliment rules on compliments that arrived in the last while
    (the outbound worker calls this every round)."""
    jobs: list[OutboundJob] = []
    for settings in repo.rule_settings(session):
        conv_ids = repo.recent_compliments(session, settings.brand_id, now - lookback)
        jobs.extend(apply_compliment_rules(session, conv_ids))
    return [j for j in jobs if j.created_at >= now]  # the ones this round queued


# ------------------------------------------------------------------ preferred channel


def ask_preferred_channel(session: Session, principal: Principal, conv_id: int) -> OutboundJob:
    """One click: ask the customer in public how they would like to continue."""
    return reply(session, principal, conv_id, ASK_CHANNEL)


# ------------------------------------------------------------------ job state for the UI


@dataclass(slots=True, frozen=True)
class JobView:
    id: int
    kind: str
    network: str
    state: str
    reason: str | None
    attempts: int
    next_attempt_at: datetime | None
    result_url: str | None
    text: str | None
    created_at: datetime

    @property
    def label(self) -> str:
        if self.state == "failed":
            return f"failed: {self.reason or 'unknown reason'}"
        if self.state == "queued" and self.attempts:
            return f"queued (retry {self.attempts + 1}): {self.reason or ''}".rstrip(": ")
        return self.state


def job_view(job: OutboundJob) -> JobView:
    return JobView(
        id=job.id,
        kind=str(job.kind.value),
        network=job.network,
        state=str(job.state.value),
        reason=job.reason,
        attempts=job.attempts,
        next_attempt_at=job.next_attempt_at if job.state == JobState.QUEUED else None,
        result_url=job.result_url,
        text=job.text,
        created_at=job.created_at,
    )


def conversation_jobs(session: Session, principal: Principal, conv_id: int) -> list[JobView]:
    conv = access_conversation(session, principal, conv_id)
    return [job_view(j) for j in repo.jobs_of_conversation(session, conv.id)]


def retry(session: Session, principal: Principal, job_id: int) -> OutboundJob:
    """An agent sends a failed job again (the same idempotency key: still at most once)."""
    job = repo.job(session, job_id, access_brand_ids(principal, Role.AGENT))
    if job is None:
        raise NotFound("no such job")
    return requeue(session, job)


def requeue(session: Session, job: OutboundJob) -> OutboundJob:
    """Send a failed job again (the operator's door: the caller has checked access)."""
    if job.state != JobState.FAILED:
        raise Conflict("only a failed job can be retried")
    job.state = JobState.QUEUED
    job.max_attempts = job.attempts + 3
    job.next_attempt_at = utcnow()
    job.reason = None
    session.flush()
    return job
