"""The worker's record step costs the same queries for 5 outcomes as for 40."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select

from earful.db import transaction
from earful.engagement import service
from earful.engagement.worker import OutboundWorker
from earful.models import Conversation, ConversationPost, JobKind, JobState, OutboundJob, Post
from tests.engagement.helpers import complaint
from tests.fakes.network import FakeNetActor, FakeNetwork, serve


@pytest.fixture
def base_url() -> Iterator[str]:
    with serve(FakeNetwork(limit=10_000, window=60.0, strict_parents=False)) as url:
        yield url


def queries_to_record(
    engine: Engine, base_url: str, brand_id: int, conv_id: int, n: int, tag: str
) -> int:
    with transaction(engine) as s:
        conv = s.get(Conversation, conv_id)
        for i in range(n):
            service.queue_job(
                s,
                conv,
                brand_id,
                JobKind.REPLY,
                "fakenet",
                target=f"{i}",
                text=f"answer {i}",
                key=f"{tag}-{i}",
            )
    worker = OutboundWorker(engine, actors=lambda b, net: FakeNetActor(base_url))
    works = worker.claim(worker_now())
    outcomes = asyncio.run(_send_all(worker, works))
    count = 0

    def on_execute(*args: Any) -> None:
        nonlocal count
        count += 1

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        summary = worker.record(outcomes)
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
    assert summary.sent == n
    return count


def worker_now() -> Any:
    from earful.models.base import utcnow

    return utcnow()


async def _send_all(worker: OutboundWorker, works: list[Any]) -> list[Any]:
    return list(await asyncio.gather(*(worker.send(w) for w in works)))


def test_record_is_batched(engine: Engine, base_url: str) -> None:
    desk = complaint(engine, FakeNetwork(), base_url)
    queries_to_record(engine, base_url, desk.brand_id, desk.conv_id, 1, "warm")  # identity
    small = queries_to_record(engine, base_url, desk.brand_id, desk.conv_id, 5, "a")
    large = queries_to_record(engine, base_url, desk.brand_id, desk.conv_id, 40, "b")
    assert large == small, (small, large)
    with transaction(engine) as s:
        assert (
            s.scalar(
                select(func.count())
                .select_from(OutboundJob)
                .where(OutboundJob.state == JobState.SENT)
            )
            == 46
        )
        stored = s.scalar(
            select(func.count())
            .select_from(ConversationPost)
            .join(Post, Post.id == ConversationPost.post_id)
            .where(Post.from_brand.is_(True))
        )
        assert stored == 46
        conv = s.get(Conversation, desk.conv_id)
        assert conv is not None and conv.post_count == 47
