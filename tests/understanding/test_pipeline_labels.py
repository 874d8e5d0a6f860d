"""Bad and foreign input through the ingest pipeline with the shipped classifier: every post
is stored with labels (or explicitly not scored) or dead-lettered with a reason, and the
conversation page and the inbox say "not scored" instead of showing a guess."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select

from earful.brands.service import create_brand
from earful.connectors.base import Batch
from earful.db import transaction
from earful.models import ConversationPost, DeadLetter, Post
from earful.pipeline.runner import Pipeline
from earful.pipeline.schema import PostIn
from earful.understanding import INTENTS, SENTIMENTS
from earful.understanding.models import artifacts_present, shipped

pytestmark = pytest.mark.skipif(not artifacts_present(), reason="no trained artifacts")

TEXTS = {
    "empty": "",
    "huge": "acme " + "x" * 100_000,
    "control": "acme \x00\x01\x07 broken\x1b[31m red \u202e reversed",
    "mixed": "acme Привет! 你好 مرحبا hello שלום 🙂",
    "es": "acme, mi vuelo llegó con cinco horas de retraso, pésimo servicio",
    "pt": "acme, meu voo atrasou cinco horas, péssimo atendimento da companhia",
    "fr": "acme, mon vol a eu cinq heures de retard, service horrible",
    "de": "acme, mein Flug hatte fünf Stunden Verspätung, furchtbarer Service",
    "en": "acme my flight was five hours late, horrible service",
}


def test_bad_and_foreign_posts_get_labels_or_not_scored(sqlite_engine: Engine) -> None:
    engine = sqlite_engine
    with transaction(engine) as s:
        brand = create_brand(s, "acme", "Acme Air", ["acme"], [])
    posts = [
        PostIn(
            network="bluesky",
            external_id=f"bad-{name}",
            author_id=f"author-{name}",
            text=text,
            created_at=datetime.now(UTC),
            author_handle=f"h{name}",
        )
        for name, text in TEXTS.items()
    ]
    pipeline = Pipeline(engine, classifier=shipped())
    with engine.begin() as conn:
        pipeline.process(conn, Batch(posts), "tests", source_brand=brand.id)
    with engine.connect() as conn:
        stored = {
            r.external_id: r
            for r in conn.execute(
                select(
                    Post.id,
                    Post.external_id,
                    Post.sentiment,
                    Post.sentiment_score,
                    Post.intent,
                    Post.urgency,
                    Post.language,
                )
            )
        }
        dead = conn.execute(select(DeadLetter.reason)).scalars().all()
    # Nothing lost: each post is stored, or dead-lettered with a reason.
    assert len(stored) + len(dead) == len(TEXTS), (stored.keys(), dead)
    assert all(reason for reason in dead), dead
    for name in TEXTS:
        if f"bad-{name}" not in stored:
            continue  # refused by the pipeline's own checks (counted above)
        row = stored[f"bad-{name}"]
        assert row.language, row
        if row.sentiment is None:  # explicitly not scored: never for English
            assert row.language != "en" and row.sentiment_score is None, row
            # Nor complaint or urgency: only a question mark is read.
            assert row.urgency is None and row.intent in (None, "question"), row
        else:
            assert row.sentiment in SENTIMENTS, row
            assert row.intent in INTENTS and row.urgency in range(5), row
    assert {"bad-control", "bad-mixed"} <= stored.keys()
    for name in ("es", "pt", "fr", "de"):
        row = stored[f"bad-{name}"]
        assert (row.language, row.sentiment, row.intent, row.urgency) == (name, None, None, None)
    # The same complaint in English is read as one.
    en = stored["bad-en"]
    assert (en.sentiment, en.intent) == ("negative", "complaint") and en.urgency, en

    # The conversation page shows "not scored" for the Spanish post, not a label.
    from tests.web.world import client, login

    with transaction(engine) as s:
        from earful.auth.service import create_user
        from earful.models import Role
        from tests.web.world import PASSWORD

        create_user(s, "agent@example.org", "Agent", PASSWORD, {brand.id: Role.AGENT})
    with engine.connect() as conn:
        conv = conn.scalar(
            select(ConversationPost.conversation_id).where(
                ConversationPost.post_id == stored["bad-es"].id
            )
        )
    c = client(engine)
    login(c, "agent")
    page = c.get(f"/c/{conv}").text
    assert "not scored" in page
    for label in SENTIMENTS:
        assert f'class="label {label}"' not in page

    # The inbox marks it too, and gives it the brand's normal target: read as English it
    # was "other, urgency 0", a calm post's target twice as long.
    inbox = c.get("/inbox").text
    assert "es · not scored" in inbox
    summary = c.get(f"/api/v1/conversations/{conv}").json()["summary"]
    assert (summary["urgency"], summary["intent"]) == (None, None)
    assert summary["target_minutes"] == brand.target_response_minutes
