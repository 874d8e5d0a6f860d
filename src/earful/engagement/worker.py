"""The outbound worker: claims due jobs, sends them, records what happened.

At most once on the network, at least once in our intent:

1. **Claim** (one transaction): due ``queued`` jobs become ``sending``, ``attempts`` grows
   and a ``pending`` send record is written for the attempt. Committed before any send.
2. **Send** (no transaction open): concurrently, each job through its network's
   :class:`~earful.connectors.base.Actor` or its handoff channel's :class:`Sender`, under
   the per-network window limiter, with the job's idempotency key on every attempt.
3. **Record** (one transaction): ``sent`` (and the reply stored in its conversation),
   ``queued`` again after a transient failure with full-jitter exponential backoff (or the
   network's own Retry-After), ``failed`` with the reason for a permanent one.

An *ambiguous* failure (a timeout or a dropped connection after the request went out) is
retried only where the receiving side deduplicates on our key; elsewhere the job fails
with "outcome unknown", so a person checks before anything is posted twice. A worker that
dies mid-send leaves ``sending`` jobs with a ``pending`` record: :meth:`recover` treats
them the same way.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from earful.connectors.base import (
    ActionError,
    Actor,
    AuthError,
    ConnectorError,
    NotSupported,
    Retry,
    Sent,
)
from earful.conversations import repository as conversations_repo
from earful.db import transaction
from earful.engagement import repository as repo
from earful.engagement.limiter import Limits
from earful.models import (
    Conversation,
    JobKind,
    JobState,
    Note,
    OutboundJob,
    ReplyStatus,
)
from earful.models.base import utcnow

log = logging.getLogger("earful.outbound")

# Actions each network deduplicates on our key (or that are idempotent by nature).
IDEMPOTENT_ACTIONS: dict[str, frozenset[str]] = {
    "mastodon": frozenset({"reply", "like", "repost", "post"}),
}


class Sender(Protocol):
    """A handoff channel (email, Zendesk, Help Scout, webhook)."""

    #: The receiving side deduplicates on the job's key: safe to resend after a timeout.
    idempotent: bool

    async def send(self, work: Work) -> Sent: ...


ActorResolver = Callable[[int, str], Actor]

# Jobs sent by a :class:`Sender` named by the job's ``network``, not a network's actor.
SENDER_KINDS = frozenset({JobKind.HANDOFF, JobKind.NOTIFY, JobKind.EVENT})


class Ambiguous(Exception):
    """The request may have been accepted: only an idempotent resend is safe."""


@dataclass(slots=True, frozen=True)
class Work:
    """What the send step needs of a job: plain data, no session."""

    job_id: int
    brand_id: int
    conversation_id: int | None
    handoff_id: int | None
    kind: str
    network: str
    target: str | None
    text: str | None
    payload: Mapping[str, Any]
    key: str
    attempt: int
    max_attempts: int


@dataclass(slots=True)
class Outcome:
    work: Work
    state: Literal["sent", "retry", "failed"]
    sent: Sent | None = None
    reason: str | None = None
    delay: float | None = None


@dataclass(slots=True)
class Summary:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    recovered: int = 0

    def add(self, other: Summary) -> None:
        self.claimed += other.claimed
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.recovered += other.recovered


@dataclass
class OutboundWorker:
    engine: Engine
    actors: ActorResolver | None = None
    senders: dict[str, Sender] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    concurrency: int = 32
    batch: int = 256
    attempt_timeout: float = 60.0
    backoff_base: float = 2.0
    backoff_cap: float = 900.0
    lease: timedelta = timedelta(minutes=10)
    rng: random.Random = field(default_factory=random.Random)
    #: Store each sent reply as a brand post in its conversation (threading kept).
    store_replies: bool = True
    _actors: dict[tuple[int, str], Actor] = field(default_factory=dict)

    # ------------------------------------------------------------ running

    async def run_once(self, now: datetime | None = None) -> Summary:
        """Claim one batch of due jobs, send them, record the outcomes."""
        works = self.claim(now or utcnow())
        if not works:
            return Summary()
        sem = asyncio.Semaphore(self.concurrency)

        async def one(work: Work) -> Outcome:
            async with sem:
                return await self.send(work)

        outcomes = await asyncio.gather(*(one(w) for w in works))
        return self.record(outcomes)

    async def drain(self, max_rounds: int | None = None, idle_s: float = 0.0) -> Summary:
        """Run until nothing is due (waiting ``idle_s`` for retries that come due)."""
        total = Summary()
        rounds = 0
        deadline = time.monotonic() + idle_s
        while max_rounds is None or rounds < max_rounds:
            rounds += 1
            summary = await self.run_once()
            total.add(summary)
            if summary.claimed:
                deadline = time.monotonic() + idle_s
                continue
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        return total

    # ------------------------------------------------------------ claim

    def claim(self, now: datetime) -> list[Work]:
        with transaction(self.engine) as session:
            jobs = repo.claim_due(session, now, self.batch)
            works = []
            for job in jobs:
                job.state = JobState.SENDING
                job.attempts += 1
                job.claimed_at = now
                works.append(
                    Work(
                        job_id=job.id,
                        brand_id=job.brand_id,
                        conversation_id=job.conversation_id,
                        handoff_id=job.handoff_id,
                        kind=str(job.kind.value),
                        network=job.network,
                        target=job.target,
                        text=job.text,
                        payload=dict(job.payload or {}),
                        key=job.idempotency_key,
                        attempt=job.attempts,
                        max_attempts=job.max_attempts,
                    )
                )
            # The send records: one executemany, not one INSERT ... RETURNING per job.
            repo.add_attempts(session, [(w.job_id, w.attempt) for w in works], now)
            return works

    # ------------------------------------------------------------ send

    def _actor(self, brand_id: int, network: str) -> Actor:
        if self.actors is None:
            raise NotSupported(f"no connector can act on {network}")
        key = (brand_id, network)
        if key not in self._actors:
            self._actors[key] = self.actors(brand_id, network)
        return self._actors[key]

    def _by_sender(self, work: Work) -> bool:
        """A handoff, or an answer in a private conversation on a sender's channel (email)."""
        return work.kind in SENDER_KINDS or (
            work.kind == JobKind.DIRECT_MESSAGE and work.network in self.senders
        )

    def idempotent(self, work: Work) -> bool:
        if self._by_sender(work):
            sender = self.senders.get(work.network)
            return bool(sender and sender.idempotent)
        try:
            actor = self._actor(work.brand_id, work.network)
        except ConnectorError:
            return False
        declared = getattr(actor, "idempotent_actions", None)
        if declared is not None:
            return work.kind in declared
        name = str(getattr(actor, "name", work.network))
        return work.kind in IDEMPOTENT_ACTIONS.get(name, frozenset())

    async def _dispatch(self, work: Work) -> Sent:
        if self._by_sender(work):
            sender = self.senders.get(work.network)
            if sender is None:
                raise NotSupported(f"no {work.network} sender is configured")
            return await sender.send(work)
        actor = self._actor(work.brand_id, work.network)
        target = work.target or ""
        if work.kind == JobKind.REPLY:
            return await actor.reply(target, work.text or "", idempotency_key=work.key)
        if work.kind == JobKind.LIKE:
            return await actor.like(target)
        if work.kind == JobKind.REPOST:
            return await actor.repost(target)
        if work.kind == JobKind.DIRECT_MESSAGE:
            return await actor.direct_message(target, work.text or "")
        if work.kind == JobKind.POST:
            return await actor.post(work.text or "", idempotency_key=work.key)
        raise NotSupported(f"unknown job kind {work.kind}")

    async def send(self, work: Work) -> Outcome:
        try:
            slot = await self.limits.acquire(work.network)
            try:
                sent = await asyncio.wait_for(self._dispatch(work), self.attempt_timeout)
            except (TimeoutError, httpx.TimeoutException) as exc:
                raise Ambiguous(f"no answer in time ({type(exc).__name__})") from None
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                raise Ambiguous(f"connection dropped ({type(exc).__name__})") from None
            finally:  # the request has surely arrived by now: its slot ages from here
                self.limits.release(work.network, slot)
        except Ambiguous as exc:
            if self.idempotent(work):
                return self._transient(work, str(exc), None)
            return Outcome(
                work,
                "failed",
                reason=f"outcome unknown: {exc}; check the network before retrying",
            )
        except Retry as exc:  # the connector's own retries ran out (429, 5xx, refused)
            return self._transient(work, exc.reason, exc.delay)
        except httpx.TransportError as exc:  # never reached the network: safe to resend
            return self._transient(work, f"cannot connect: {type(exc).__name__}", None)
        except AuthError as exc:
            return Outcome(work, "failed", reason=f"credentials refused: {exc}")
        except ActionError as exc:
            if exc.status == 429 or (exc.status or 0) >= 500:
                return self._transient(work, str(exc), None)
            return Outcome(work, "failed", reason=str(exc))
        except ConnectorError as exc:
            return Outcome(work, "failed", reason=str(exc) or type(exc).__name__)
        return Outcome(work, "sent", sent=sent)

    def _transient(self, work: Work, reason: str, delay: float | None) -> Outcome:
        if work.attempt >= work.max_attempts:
            return Outcome(
                work, "failed", reason=f"gave up after {work.attempt} attempts: {reason}"
            )
        if delay is None:
            ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (work.attempt - 1))
            delay = self.rng.uniform(ceiling / 2, ceiling)
        return Outcome(work, "retry", reason=reason, delay=delay)

    # ------------------------------------------------------------ record

    def record(self, outcomes: list[Outcome]) -> Summary:
        """One transaction for the whole batch, a fixed number of queries whatever its size.

        Jobs, send records, replies, handoffs, conversations, already-stored posts and the
        brand identities are each read with one ``IN`` query; the new posts and their
        conversation links are written with one flush each.
        """
        summary = Summary(claimed=len(outcomes))
        now = utcnow()
        with transaction(self.engine) as session:
            ids = [o.work.job_id for o in outcomes]
            jobs = {j.id: j for j in repo.jobs_by_ids(session, ids)}
            pending = repo.pending_attempts(session, ids)
            sent: list[tuple[OutboundJob, Sent | None]] = []
            for o in outcomes:
                job = jobs[o.work.job_id]
                attempt = pending.get(job.id)
                if attempt is not None:
                    attempt.outcome = o.state
                    attempt.detail = (o.reason or (o.sent.external_id if o.sent else None) or "")[
                        :500
                    ] or None
                    attempt.finished_at = now
                job.claimed_at = None
                job.updated_at = now  # the decision's time, so next_attempt_at - updated_at = delay
                if o.state == "sent":
                    summary.sent += 1
                    job.state = JobState.SENT
                    job.reason = None
                    job.sent_at = now
                    job.result_id = o.sent.external_id if o.sent else None
                    job.result_url = o.sent.url if o.sent else None
                    sent.append((job, o.sent))
                elif o.state == "retry":
                    summary.retried += 1
                    job.state = JobState.QUEUED
                    job.reason = o.reason
                    job.next_attempt_at = now + timedelta(seconds=o.delay or 0.0)
                else:
                    summary.failed += 1
                    job.state = JobState.FAILED
                    job.reason = (o.reason or "failed")[:500]
                    log.info("outbound job %s failed: %s", job.id, job.reason)
            touched = self._sent(session, sent, now) if sent else set()
            if touched:
                conversations_repo.refresh_states(session, sorted(touched))
        return summary

    def _sent(
        self, session: Session, sent: list[tuple[OutboundJob, Sent | None]], now: datetime
    ) -> set[int]:
        """Replies marked sent, handoffs linked, sent replies stored in their conversations."""
        reply_ids = [j.reply_id for j, _ in sent if j.reply_id is not None]
        for reply in repo.replies_by_ids(session, reply_ids):
            reply.status = ReplyStatus.SENT
        handoff_ids = [j.handoff_id for j, s in sent if j.handoff_id is not None and s]
        handoffs = {h.id: h for h in repo.handoffs_by_ids(session, handoff_ids)}
        for job, result in sent:
            handoff = handoffs.get(job.handoff_id or 0)
            if handoff is not None and result is not None:
                handoff.external_id = result.external_id or handoff.external_id
                handoff.external_url = result.url or handoff.external_url
        if not self.store_replies:
            return set()
        for job, _ in sent:  # an automatic message (acknowledgement, survey) is a note
            if (job.payload or {}).get("auto") and job.conversation_id is not None:
                label = (job.payload or {}).get("note") or "Automatic acknowledgement"
                session.add(Note(conversation_id=job.conversation_id, brand_id=job.brand_id,
                                 text=f"{label} sent: {job.text}"))  # fmt: skip
        todo = [
            (job, result)
            for job, result in sent
            if not (job.payload or {}).get("auto")
            and job.kind in (JobKind.REPLY, JobKind.DIRECT_MESSAGE)
            and job.conversation_id is not None
            and result is not None
            and result.external_id
        ]
        if not todo:
            return set()
        keys = {(j.network, str(r.external_id)) for j, r in todo if r is not None}
        stored = repo.existing_post_keys(session, keys)
        convs = {
            c.id: c
            for c in repo.conversations_by_ids(session, {j.conversation_id or 0 for j, _ in todo})
        }
        brands = {b.id: b for b in repo.brands_by_ids(session, {j.brand_id for j, _ in todo})}
        idents: dict[tuple[int, str], int] = {}
        new: list[tuple[Conversation, dict[str, Any]]] = []
        for job, result in todo:
            assert result is not None and result.external_id
            key = (job.network, result.external_id)
            conv = convs.get(job.conversation_id or 0)
            brand = brands.get(job.brand_id)
            if key in stored or conv is None or brand is None:
                continue
            stored.add(key)
            if (brand.id, job.network) not in idents:
                idents[(brand.id, job.network)] = repo.brand_identity(
                    session, brand, job.network
                ).id
            post = {
                "network": job.network,
                "external_id": result.external_id,
                "identity_id": idents[(brand.id, job.network)],
                "text": job.text or "",
                "created_at": now,
                "url": result.url,
                "reply_to_external_id": job.target if job.kind == JobKind.REPLY else None,
                "from_brand": True,
                "private": job.kind == JobKind.DIRECT_MESSAGE,
            }
            new.append((conv, post))
        repo.add_posts_to_conversations(session, new)
        return {conv.id for conv, _ in new}

    # ------------------------------------------------------------ recovery

    def recover(self, now: datetime | None = None) -> Summary:
        """Jobs left ``sending`` by a dead worker: resend where safe, else flag them."""
        now = now or utcnow()
        summary = Summary()
        with transaction(self.engine) as session:
            stale = repo.stale_sending(session, now - self.lease)
            pending = repo.pending_attempts(session, [j.id for j in stale])
            for job in stale:
                work = Work(
                    job.id, job.brand_id, job.conversation_id, job.handoff_id,
                    str(job.kind.value), job.network, job.target, job.text,
                    dict(job.payload or {}), job.idempotency_key, job.attempts,
                    job.max_attempts,
                )  # fmt: skip
                attempt = pending.get(job.id)
                job.claimed_at = None
                summary.recovered += 1
                if self.idempotent(work):
                    job.state = JobState.QUEUED
                    job.next_attempt_at = utcnow()
                    job.reason = "the worker stopped mid-send; resending with the same key"
                else:
                    job.state = JobState.FAILED
                    job.reason = (
                        "outcome unknown: the worker stopped mid-send; "
                        "check the network before retrying"
                    )
                if attempt is not None:
                    attempt.outcome = "unknown"
                    attempt.finished_at = now
        return summary
