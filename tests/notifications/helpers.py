"""The desk as `earful outbound run` builds it, a spike tipped through the ingest pipeline,
and the receivers of what we send."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from earful.cli.outbound import Outbound, outbound, outbound_rounds
from earful.connectors.base import Batch
from earful.db import transaction
from earful.models import JobKind, JobState, Notification, OutboundJob
from earful.pipeline.runner import Pipeline
from earful.pipeline.schema import PostIn
from earful.pipeline.stages import NullClassifier

SECRET_KEY = "test-secret-key-0123456789abcdef"  # the web app's key in tests/web/world.py


def desk(engine: Engine, monkeypatch: pytest.MonkeyPatch, smtp_port: int) -> Outbound:
    """The outbound worker with the production senders, mail to ``smtp_port``; retries
    come due in milliseconds instead of seconds."""
    monkeypatch.setenv("EARFUL_SMTP_PORT", str(smtp_port))
    monkeypatch.setenv("EARFUL_PUBLIC_URL", "https://desk.example")
    out = outbound(engine, SECRET_KEY)
    out.worker.backoff_base = 0.001
    out.worker.backoff_cap = 0.002
    return out


def run_round(out: Outbound) -> None:
    asyncio.run(outbound_rounds(out, threading.Event(), once=True, sync_every=0))


def run_until_settled(out: Outbound, kinds: tuple[JobKind, ...], limit: float = 20.0) -> None:
    """Rounds until no job of these kinds is queued and due (retries included)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        run_round(out)
        with transaction(out.engine) as s:
            due = s.scalars(
                select(OutboundJob.id).where(
                    OutboundJob.kind.in_(kinds),
                    OutboundJob.state.in_([JobState.QUEUED, JobState.SENDING]),
                    OutboundJob.next_attempt_at <= datetime.now(UTC) + timedelta(seconds=1),
                )
            ).all()
        if not due:
            run_round(out)  # settle the last outcomes on their targets
            return
        time.sleep(0.01)
    raise AssertionError("jobs still due after the time limit")


def notifications(engine: Engine) -> list[Notification]:
    with transaction(engine) as s:
        rows = list(s.scalars(select(Notification).order_by(Notification.id)))
        s.expunge_all()
        return rows


def tip_spike(
    engine: Engine,
    brand_id: int,
    posts: int = 12,
    tag: str = "s",
    said: str = "the app is down again",
) -> None:
    """A day-old mention (so the brand has a baseline), then a burst of mentions now, each
    through the ingest pipeline with the spike detector on, as a source of the brand."""
    now = datetime.now(UTC)
    pipeline = Pipeline(engine, classifier=NullClassifier())

    def post(i: int, at: datetime) -> PostIn:
        return PostIn(network="bluesky", external_id=f"{tag}-{brand_id}-{i}",
                      author_id=f"{tag}-author-{i}", text=f"{said} {i}",
                      created_at=at, author_handle=f"{tag}{i}", language="en")  # fmt: skip

    with engine.begin() as conn:
        pipeline.process(conn, Batch([post(0, now - timedelta(days=2))]), "tests",
                         source_brand=brand_id)  # fmt: skip
    with engine.begin() as conn:
        batch = Batch([post(i, now - timedelta(seconds=i)) for i in range(1, posts + 1)])
        pipeline.process(conn, batch, "tests", source_brand=brand_id)
