"""The Alembic history is one line and matches the ORM models exactly."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, select, update

from earful.brands.service import create_brand
from earful.connectors.replay import FileReplay
from earful.conversations import priority as prio
from earful.conversations import repository as conversations
from earful.db import transaction
from earful.demo.generate import brands_config, write
from earful.migrate import alembic_config, upgrade
from earful.models import Base, Brand, Conversation, ConversationState
from earful.models.search import include_object
from earful.pipeline.runner import Pipeline


def test_single_head(sqlite_engine: Engine) -> None:
    script = ScriptDirectory.from_config(alembic_config(sqlite_engine))
    assert len(script.get_heads()) == 1, f"several migration heads: {script.get_heads()}"


def test_models_match_migrations(engine: Engine) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": False, "include_object": include_object}
        )
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], f"models and migrations differ; add a migration: {diff}"


def test_upgrade_is_idempotent(engine: Engine) -> None:
    upgrade(engine)  # a second run finds nothing to do and does not fail


def test_subjects_left_empty_by_older_ingests_are_filled_in(engine: Engine, tmp_path: Path) -> None:
    """The backfill gives each conversation the subject the ingest now writes itself."""
    with transaction(engine) as session:
        for cfg in brands_config():
            create_brand(session, cfg["slug"], cfg["name"], cfg["keywords"], cfg["handles"])
    corpus = tmp_path / "corpus.jsonl"
    write(corpus, seed=4, posts=700)
    Pipeline(engine).ingest(FileReplay(corpus, "jsonl", batch_size=100))
    with engine.connect() as conn:
        written = dict(conn.execute(select(Conversation.id, Conversation.subject)).all())
    assert len(written) > 100 and all(written.values())

    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "search_bulk_load")
        conn.execute(update(Conversation).values(subject=None))  # as the old ingest left them
        conn.execute(
            update(Conversation).where(Conversation.id == min(written)).values(subject="kept")
        )
    upgrade(engine)
    with engine.connect() as conn:
        filled = dict(conn.execute(select(Conversation.id, Conversation.subject)).all())
    assert filled == {**written, min(written): "kept"}


def test_priority_keys_stored_before_due_ordering_are_recomputed(
    engine: Engine, tmp_path: Path
) -> None:
    """Keys written as ``score * target - waiting_since`` become ``-due``: the inbox order."""
    with transaction(engine) as session:
        for cfg in brands_config():
            create_brand(session, cfg["slug"], cfg["name"], cfg["keywords"], cfg["handles"])
    corpus = tmp_path / "corpus.jsonl"
    write(corpus, seed=5, posts=600)
    Pipeline(engine).ingest(FileReplay(corpus, "jsonl", batch_size=100))
    with transaction(engine) as session:  # as the inbox brings them up to date on start
        while stale := conversations.stale_conversations(session):
            conversations.refresh_states(session, stale)
    st = ConversationState
    waiting = select(st.conversation_id, st.priority_key).where(st.waiting_since.is_not(None))
    with engine.connect() as conn:
        due_keys = dict(conn.execute(waiting).all())
        answered = dict(conn.execute(select(st.conversation_id, st.priority_key)).all())
        rows = conn.execute(
            select(st.conversation_id, st.urgency, st.sentiment, st.sentiment_score,
                   st.waiting_since, Brand.target_response_minutes)
            .join(Brand, Brand.id == st.brand_id)
            .where(st.waiting_since.is_not(None))
        ).all()  # fmt: skip
    assert len(due_keys) > 50
    old_keys = {
        cid: prio.score(u, s, sc) * target * 60.0 - since.replace(tzinfo=UTC).timestamp()
        for cid, u, s, sc, since, target in rows
    }  # the formula of the keys stored before (fbf4826)

    def order(keys: dict[int, float]) -> list[int]:
        return sorted(keys, key=lambda cid: (-keys[cid], cid))

    assert order(old_keys) != order(due_keys)  # the inbox read wrong with them

    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "conversations_by_first_post")
        for cid, key in old_keys.items():
            conn.execute(update(st).where(st.conversation_id == cid).values(priority_key=key))
    upgrade(engine)
    with engine.connect() as conn:
        now_keys = dict(conn.execute(waiting).all())
        after = dict(conn.execute(select(st.conversation_id, st.priority_key)).all())
    assert now_keys == pytest.approx(due_keys)
    assert order(now_keys) == order(due_keys)
    assert {c: k for c, k in after.items() if c not in due_keys} == {
        c: k for c, k in answered.items() if c not in due_keys
    }  # answered conversations keep theirs
