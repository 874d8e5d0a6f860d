"""The second tier through the production path: a signed webhook delivery is stored with the
fast tier's labels, relabeled by the second tier after the commit, shown as such on the page
and in the API; an agent's correction wins over both tiers, even when the second tier runs
again (``earful reclassify --second-tier``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from earful.auth.service import create_user
from earful.cli.main import app as cli
from earful.config import get_settings
from earful.db import transaction
from earful.models import Conversation, ConversationPost, Post, Role
from earful.understanding.models import shipped
from earful.understanding.tier2 import SecondTier, present
from earful.web.app import create_app
from tests.protocol.conftest import SECRET, make_source
from tests.protocol.test_webhooks import hook_headers
from tests.web.world import PASSWORD, login

pytestmark = pytest.mark.skipif(not present(), reason="no second-tier artifacts")

TEXTS = [
    "acmeair lost my bag AGAIN, third time this year. unacceptable, I want a refund",
    "acmeair thanks for the upgrade, the crew was lovely",
    "acmeair \x01 broken\x1b[31m control \u202e characters",
    "acmeair Привет! 你好 مرحبا hello שלום 🙂",
    "acmeair mi vuelo llegó con cinco horas de retraso, pésimo servicio",
]


def delivery(texts: list[str], prefix: str = "t") -> bytes:
    return orjson.dumps(
        {
            "posts": [
                {
                    "network": "forum",
                    "id": f"{prefix}-{i}",
                    "author": {"id": f"u-{prefix}-{i}", "handle": f"dana{i}"},
                    "text": text,
                    "created_at": "2024-11-23T13:53:20+00:00",
                }
                for i, text in enumerate(texts)
            ]
        }
    )


@pytest.fixture
def second_tier(monkeypatch: pytest.MonkeyPatch) -> Iterator[bool]:
    """``EARFUL_SECOND_TIER`` as a deployment sets it (the pipeline reads it at start)."""
    monkeypatch.setenv("EARFUL_SECOND_TIER", "true")
    get_settings.cache_clear()
    yield True
    get_settings.cache_clear()


def app_client(engine: Engine) -> TestClient:
    return TestClient(
        create_app(engine, secret_key=SECRET, secure_cookies=False, live=False),
        base_url="https://testserver",
    )


def stored(engine: Engine) -> list[Post]:
    with transaction(engine) as s:
        rows = list(s.scalars(select(Post).order_by(Post.id)))
        s.expunge_all()
    return rows


def test_a_delivery_is_relabeled_by_the_second_tier_after_the_commit(
    engine: Engine, second_tier: bool
) -> None:
    source_id = make_source(engine, "webhook", {"secret": "whsec-1"})
    client = app_client(engine)
    body = delivery(TEXTS)
    r = client.post(f"/webhooks/in/{source_id}", content=body, headers=hook_headers(body))
    assert r.status_code == 202 and r.json()["stored"] == len(TEXTS), r.text

    posts = stored(engine)
    tier = SecondTier()
    texts = [p.text for p in posts]
    expected = tier.classify(texts)  # the same batch, in the stage's (id) order
    fast = shipped().classify(texts)
    for post, want, was in zip(posts, expected, fast, strict=True):
        assert post.tier2_version == tier.version, post.text
        got = (post.sentiment, post.sentiment_score, post.intent, post.urgency)
        assert got == (want.sentiment, want.sentiment_score, want.intent, want.urgency)
        assert post.model_version == shipped().version  # the fast tier stored it first
        assert post.language == was.language  # language stays the fast tier's
    # The label on the post changed from what the fast tier stored.
    assert any(
        (p.sentiment, p.sentiment_score) != (f.sentiment, f.sentiment_score)
        for p, f in zip(posts, fast, strict=True)
    )
    # Other languages stay "not scored" in the second tier too.
    by_text = {p.text: p for p in posts}
    assert by_text[TEXTS[4]].sentiment is None and by_text[TEXTS[3]].sentiment is None


def test_without_the_setting_posts_keep_the_fast_tier(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EARFUL_SECOND_TIER", "false")
    get_settings.cache_clear()
    try:
        source_id = make_source(engine, "webhook", {"secret": "whsec-1"})
        body = delivery(TEXTS[:2])
        r = app_client(engine).post(
            f"/webhooks/in/{source_id}", content=body, headers=hook_headers(body)
        )
        assert r.status_code == 202, r.text
    finally:
        get_settings.cache_clear()
    posts = stored(engine)
    fast = shipped().classify([p.text for p in posts])
    assert [p.tier2_version for p in posts] == [None, None]
    assert [(p.sentiment, p.sentiment_score) for p in posts] == [
        (f.sentiment, f.sentiment_score) for f in fast
    ]


def test_an_agents_correction_wins_over_both_tiers(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stored while the second tier is off: the fast tier's labels.
    monkeypatch.setenv("EARFUL_SECOND_TIER", "false")
    get_settings.cache_clear()
    source_id = make_source(engine, "webhook", {"secret": "whsec-1"})
    client = app_client(engine)
    body = delivery(TEXTS[:2])
    r = client.post(f"/webhooks/in/{source_id}", content=body, headers=hook_headers(body))
    assert r.status_code == 202, r.text
    complaint, thanks = stored(engine)
    with transaction(engine) as s:
        conv, brand_id = s.execute(
            select(Conversation.id, Conversation.brand_id)
            .join(ConversationPost, ConversationPost.conversation_id == Conversation.id)
            .where(ConversationPost.post_id == complaint.id)
        ).one()
        create_user(s, "agent@example.org", "Agent", PASSWORD, {brand_id: Role.AGENT})
    csrf = login(client, "agent")
    page = client.get(f"/c/{conv}").text
    assert ">fast tier<" in page

    # The agent says the complaint is positive (whatever a model reads).
    r = client.post(
        f"/c/{conv}/posts/{complaint.id}/labels",
        data={"field": "sentiment", "value": "positive", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text

    # The second tier catches up on what it has not labeled; the agent's value stays.
    monkeypatch.setenv("EARFUL_SECOND_TIER", "true")
    get_settings.cache_clear()
    out = CliRunner().invoke(
        cli,
        ["reclassify", "--second-tier", "--database", engine.url.render_as_string(False)],
        catch_exceptions=False,
    )
    assert out.exit_code == 0, out.output
    assert "relabeled 2 posts" in out.output
    complaint_after, thanks_after = stored(engine)
    assert complaint_after.tier2_version == thanks_after.tier2_version == SecondTier().version
    assert (complaint_after.sentiment, complaint_after.sentiment_score) == ("positive", 1.0)
    again = SecondTier().classify([complaint.text, thanks.text])  # the same batch
    assert complaint_after.intent == again[0].intent
    assert thanks_after.sentiment == again[1].sentiment

    page = client.get(f"/c/{conv}").text
    assert ">second tier<" in page
    api = client.get(f"/api/v1/conversations/{conv}")
    assert api.status_code == 200, api.text
    first = next(p for p in api.json()["posts"] if p["id"] == complaint.id)
    assert first["labeled_by"] == {
        "sentiment": "agent",
        "intent": "second tier",
        "urgency": "second tier",
    }
    get_settings.cache_clear()


@pytest.mark.redis
def test_scale_out_workers_relabel_after_their_commit(
    engine: Engine, redis_client: object, second_tier: bool
) -> None:
    """The same stage behind the Redis Stream: the worker stores the batch, acknowledges
    it, then the second tier relabels it."""
    import redis

    from earful.brands.service import create_brand
    from earful.connectors.base import Batch
    from earful.pipeline.schema import PostIn
    from earful.worker.redis_streams import Publisher, StreamConfig, Worker
    from tests.worker.helpers import WORKER_REDIS_URL, stream_keys

    with transaction(engine) as s:
        create_brand(s, "acme", "Acme Air", ["acmeair"], {})
    posts = [
        PostIn(
            network="bluesky",
            external_id=f"w-{i}",
            author_id=f"a-{i}",
            text=text,
            created_at=datetime(2024, 11, 23, 13, 53, i, tzinfo=UTC),
            author_handle=f"h{i}",
        )
        for i, text in enumerate(TEXTS)
    ]
    client = redis.Redis.from_url(WORKER_REDIS_URL)
    try:
        with stream_keys(client) as stream:
            cfg = StreamConfig(stream=stream, claim_idle_ms=500, block_ms=50)
            Publisher(client, cfg, "stream-test", "replay").publish(Batch(posts=posts))
            worker = Worker(engine, client, cfg, "w0")
            assert worker.pipeline.second_tier is not None
            worker.run(until_idle=True, idle_s=0.5)
    finally:
        client.close()
    got = stored(engine)
    assert len(got) == len(TEXTS)
    tier = SecondTier()
    expected = tier.classify([p.text for p in got])
    assert [p.tier2_version for p in got] == [tier.version] * len(TEXTS)
    assert [(p.sentiment, p.sentiment_score, p.urgency) for p in got] == [
        (e.sentiment, e.sentiment_score, e.urgency) for e in expected
    ]
