"""The outbound worker against a fake network: faults end with one post and a true state."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select

from earful.db import transaction
from earful.engagement import service
from earful.engagement.worker import OutboundWorker
from earful.models import (
    JobState,
    OutboundAttempt,
    OutboundJob,
    Post,
    Reply,
    ReplyStatus,
)
from tests.engagement.helpers import Desk, complaint, mastodon_actors
from tests.fakes.network import FakeNetwork, serve


@pytest.fixture
def fake() -> FakeNetwork:
    return FakeNetwork(limit=300, window=300.0, hang_s=2.5)


@pytest.fixture
def base_url(fake: FakeNetwork) -> Iterator[str]:
    with serve(fake) as url:
        yield url


@pytest.fixture
def desk(engine: Engine, fake: FakeNetwork, base_url: str) -> Desk:
    return complaint(engine, fake, base_url)


def worker(desk: Desk, **kw: object) -> OutboundWorker:
    opts: dict[str, object] = {"backoff_base": 0.05, "backoff_cap": 0.2, "attempt_timeout": 10.0}
    opts.update(kw)
    return OutboundWorker(desk.engine, actors=mastodon_actors(desk.base_url), **opts)  # type: ignore[arg-type]


def queue_reply(desk: Desk, text: str = "So sorry, Alice. We're on it.") -> int:
    with transaction(desk.engine) as s:
        return service.reply(s, desk.agent, desk.conv_id, text).id


def job_state(desk: Desk, job_id: int) -> OutboundJob:
    with transaction(desk.engine) as s:
        job = s.get(OutboundJob, job_id)
        assert job is not None
        s.expunge(job)
        return job


def replies_posted(fake: FakeNetwork) -> list[dict[str, object]]:
    return [fake.statuses[i] for i in fake.posted]


def test_reply_is_signed_sent_and_threaded(desk: Desk, fake: FakeNetwork) -> None:
    job_id = queue_reply(desk)
    summary = asyncio.run(worker(desk).drain())
    assert summary.sent == 1
    [posted] = replies_posted(fake)
    assert posted["in_reply_to_id"] == desk.post_sid
    assert "So sorry, Alice. We're on it. ^JS" in str(posted["content"])
    job = job_state(desk, job_id)
    assert job.state == JobState.SENT and job.attempts == 1
    with transaction(desk.engine) as s:  # the sent reply is a brand post of the conversation
        mine = s.scalar(select(Post).where(Post.external_id == job.result_id))
        assert mine is not None and mine.from_brand
        assert mine.reply_to_external_id.endswith(desk.post_sid)  # type: ignore[union-attr]


@pytest.mark.parametrize("fault", ["429", "500", "timeout", "drop", "refuse"])
def test_fault_ends_with_one_post(desk: Desk, fake: FakeNetwork, fault: str) -> None:
    fake.faults.extend([fault])
    job_id = queue_reply(desk)
    summary = asyncio.run(worker(desk).drain(idle_s=3.0))
    assert len(replies_posted(fake)) == 1, f"{fault}: posted {len(replies_posted(fake))} times"
    job = job_state(desk, job_id)
    assert job.state == JobState.SENT, job.reason
    assert summary.sent == 1


@pytest.mark.parametrize("fault", ["429", "500", "timeout", "drop"])
def test_repeated_faults_back_off_then_send_once(desk: Desk, fake: FakeNetwork, fault: str) -> None:
    # More faults than the connector's own 4 tries: the worker's backoff takes over.
    fake.faults.extend([fault] * 5)
    job_id = queue_reply(desk)
    asyncio.run(worker(desk, attempt_timeout=0.8 if fault == "timeout" else 10.0).drain(idle_s=4.0))
    assert len(replies_posted(fake)) == 1
    job = job_state(desk, job_id)
    assert job.state == JobState.SENT, job.reason
    assert job.attempts >= 2
    with transaction(desk.engine) as s:
        outcomes = [
            a.outcome
            for a in s.scalars(select(OutboundAttempt).where(OutboundAttempt.job_id == job_id))
        ]
    assert outcomes[-1] == "sent" and "retry" in outcomes


def test_permanent_error_fails_with_reason(desk: Desk, fake: FakeNetwork) -> None:
    job_id = queue_reply(desk)
    fake.statuses.pop(desk.post_sid)  # the customer deleted the post meanwhile
    asyncio.run(worker(desk).drain())
    job = job_state(desk, job_id)
    assert job.state == JobState.FAILED
    assert "404" in (job.reason or "")
    assert replies_posted(fake) == []


def test_gives_up_after_max_attempts(desk: Desk, fake: FakeNetwork) -> None:
    fake.faults.extend(["500"] * 100)
    job_id = queue_reply(desk)
    with transaction(desk.engine) as s:
        s.get(OutboundJob, job_id).max_attempts = 2  # type: ignore[union-attr]
    asyncio.run(worker(desk).drain(idle_s=2.0))
    job = job_state(desk, job_id)
    assert job.state == JobState.FAILED
    assert job.reason and job.reason.startswith("gave up after 2 attempts")
    # ...and an agent's retry sends it once the network is back.
    fake.faults.clear()
    with transaction(desk.engine) as s:
        service.retry(s, desk.agent, job_id)
    asyncio.run(worker(desk).drain())
    assert job_state(desk, job_id).state == JobState.SENT
    assert len(replies_posted(fake)) == 1


def test_non_idempotent_timeout_is_flagged_not_resent(desk: Desk, fake: FakeNetwork) -> None:
    fake.faults.extend(["timeout"])
    job_id = queue_reply(desk)
    w = worker(desk, attempt_timeout=0.8)
    w.idempotent = lambda work: False  # type: ignore[method-assign]
    asyncio.run(w.drain())
    job = job_state(desk, job_id)
    assert job.state == JobState.FAILED
    assert job.reason and job.reason.startswith("outcome unknown")
    assert len(replies_posted(fake)) == 1  # accepted once, never resent blindly


def test_dead_worker_is_recovered(desk: Desk, fake: FakeNetwork) -> None:
    job_id = queue_reply(desk)
    w = worker(desk)
    from datetime import timedelta

    from earful.models.base import utcnow

    w.claim(utcnow())  # claimed, then the worker "dies"
    assert job_state(desk, job_id).state == JobState.SENDING
    w.recover(utcnow() + timedelta(hours=1))
    assert job_state(desk, job_id).state == JobState.QUEUED  # Mastodon dedups on the key
    asyncio.run(w.drain())
    assert job_state(desk, job_id).state == JobState.SENT


def test_like_and_repost_compliment(engine: Engine, fake: FakeNetwork, base_url: str) -> None:
    desk = complaint(engine, fake, base_url, text="Best crew ever, thank you Acme!")
    with transaction(engine) as s:
        jobs = service.compliment_click(s, desk.agent, desk.conv_id, ("thank", "like", "repost"))
        again = service.compliment_click(s, desk.agent, desk.conv_id, ("like",))
        assert again[0].id == jobs[1].id  # a double click is one like
    asyncio.run(worker(desk).drain())
    assert desk.post_sid in fake.favourites and desk.post_sid in fake.reblogs
    [thanks] = replies_posted(fake)
    assert "Thank you so much" in str(thanks["content"]) and "^JS" in str(thanks["content"])


def test_inbox_reply_row_is_marked_sent(desk: Desk, fake: FakeNetwork) -> None:
    with transaction(desk.engine) as s:
        reply = Reply(
            conversation_id=desk.conv_id,
            brand_id=desk.brand_id,
            author_id=desk.agent.user_id,
            text="We found your bag.",
            status=ReplyStatus.QUEUED,
            based_on_version=1,
        )
        s.add(reply)
        s.flush()
        service.enqueue_reply(s, desk.agent, reply)
        reply_id = reply.id
    asyncio.run(worker(desk).drain())
    with transaction(desk.engine) as s:
        assert s.get(Reply, reply_id).status == ReplyStatus.SENT  # type: ignore[union-attr]
