"""The inbox and the conversation page show the subject the ingest wrote, not "(no text)"."""

from __future__ import annotations

from sqlalchemy import Engine, select

from earful.connectors.replay import FileReplay
from earful.conversations import repository as conversations_repo
from earful.db import transaction
from earful.models import ConversationPost, Post
from earful.pipeline.runner import Pipeline
from earful.pipeline.stages import SUBJECT_CHARS
from tests.conftest import TWCS_SAMPLE
from tests.web.world import add_conversation, build_world, client, login


def test_rows_and_titles_read_the_first_post(sqlite_engine: Engine) -> None:
    w = build_world(sqlite_engine)
    words = " ".join(["delayed"] * 40)
    text = f"Stuck at gate 12\n\nfor three hours,   {words}"
    with transaction(sqlite_engine) as s:
        conv = add_conversation(s, w.brand_a, 70, text, "zoe", minutes_ago=1)
        conversations_repo.refresh_states(s, [conv])
    c = client(sqlite_engine)
    login(c, "alice")
    inbox = c.get("/inbox").text
    page = c.get(f"/c/{conv}").text
    assert "(no text)" not in inbox
    row = inbox.split(f'href="/c/{conv}"><bdi>', 1)[1].split("</bdi>", 1)[0]
    assert row.startswith("Stuck at gate 12 for three hours, delayed delayed")
    assert row.endswith("…") and len(row) <= SUBJECT_CHARS
    assert f"<h1><bdi>{row}</bdi></h1>" in page
    for i in range(3):  # the world's own conversations, stored the same way
        assert f"<bdi>my flight {i} was late</bdi>" in inbox


def test_the_brands_own_replies_carry_no_customer_labels(sqlite_engine: Engine) -> None:
    """Sentiment and complaint describe the customer; on the team's own answers they
    would mislead ("complaint 0.72" on an apology), so the thread shows none there."""
    w = build_world(sqlite_engine)
    summary = Pipeline(sqlite_engine).ingest(FileReplay(TWCS_SAMPLE, "twcs"), w.brand_a)
    assert summary.dead_lettered == 0
    with sqlite_engine.connect() as conn:
        conv = conn.scalar(
            select(ConversationPost.conversation_id)
            .join(Post, Post.id == ConversationPost.post_id)
            .where(Post.from_brand.is_(True))
            .limit(1)
        )
    assert conv is not None
    c = client(sqlite_engine)
    login(c, "alice")
    page = c.get(f"/c/{conv}").text
    posts = page.split('<li class="post')[1:]
    theirs = [p for p in posts if not p.startswith(" from-brand")]
    ours = [p for p in posts if p.startswith(" from-brand")]
    assert theirs and ours
    assert all('class="labels"' in p.split("</li>", 1)[0] for p in theirs)
    assert not any('class="labels"' in p.split("</li>", 1)[0] for p in ours)
