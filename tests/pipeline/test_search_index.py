"""The SQLite full-text index stays exact when the ingest indexes whole batches at once."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine, select, text

from earful.connectors.replay import FileReplay
from earful.db import transaction
from earful.demo.generate import write
from earful.models import Identity, Post
from earful.pipeline.runner import Pipeline
from earful.pipeline.stages import NullClassifier
from tests.pipeline.test_runner import demo_brands


def _check_index(engine: Engine) -> None:
    """FTS5 checks its index against the posts table (rank 1) and raises on a difference."""
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO posts_fts(posts_fts, rank) VALUES ('integrity-check', 1)"))


def _matches(engine: Engine, word: str) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.external_id FROM posts_fts f JOIN posts p ON p.id = f.rowid "
                "WHERE posts_fts MATCH :q"
            ),
            {"q": f'"{word}"'},
        )
        return {r[0] for r in rows}


def _containing(engine: Engine, word: str) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(select(Post.external_id, Post.text)).all()
    return {ext for ext, body in rows if word in re.findall(r"\w+", body.casefold())}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.jsonl"
    write(path, seed=7, posts=1500)
    return path


def test_batched_ingest_indexes_every_post_exactly_once(
    sqlite_engine: Engine, corpus: Path
) -> None:
    demo_brands(sqlite_engine)
    pipeline = Pipeline(sqlite_engine, classifier=NullClassifier())
    first = pipeline.ingest(FileReplay(corpus, "jsonl", batch_size=200))
    again = pipeline.ingest(FileReplay(corpus, "jsonl", batch_size=333), from_start=True)
    assert first.ingested > 500
    assert again.ingested == 0  # duplicates: nothing may be indexed twice either
    _check_index(sqlite_engine)
    for word in ("booking", "flight", "thanks", "soup"):
        expected = _containing(sqlite_engine, word)
        assert expected, word
        assert _matches(sqlite_engine, word) == expected
    with sqlite_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM posts_fts_bulk")).scalar_one() == 0


def test_other_writers_are_still_indexed_by_the_trigger(
    sqlite_engine: Engine, corpus: Path
) -> None:
    demo_brands(sqlite_engine)
    Pipeline(sqlite_engine, classifier=NullClassifier()).ingest(
        FileReplay(corpus, "jsonl", batch_size=500)
    )
    with transaction(sqlite_engine) as session:
        who = session.scalars(select(Identity)).first()
        assert who is not None
        session.add(
            Post(
                network="x",
                external_id="written-by-hand",
                identity_id=who.id,
                text="A zanzibarish word nobody else uses",
                created_at=datetime.now(UTC),
                from_brand=False,
            )
        )
    assert _matches(sqlite_engine, "zanzibarish") == {"written-by-hand"}
    _check_index(sqlite_engine)


def test_a_failed_batch_leaves_neither_posts_nor_index_entries(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    """The batch's transaction rolls back, marker and index rows with it."""

    class Exploding(NullClassifier):
        calls = 0

        def classify(self, texts):  # type: ignore[no-untyped-def]
            Exploding.calls += 1
            if Exploding.calls == 2:
                raise RuntimeError("model crashed")
            return super().classify(texts)

    demo_brands(sqlite_engine)
    path = tmp_path / "two.jsonl"
    lines = []
    for i in range(20):
        lines.append(
            orjson.dumps(
                {
                    "network": "x",
                    "id": f"p{i}",
                    "author": {"id": f"a{i}"},
                    "text": f"Skyward Air lost my bag quokkaword {i}",
                    "created_at": "2026-11-20T10:00:00Z",
                }
            )
        )
    path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(RuntimeError, match="model crashed"):
        Pipeline(sqlite_engine, classifier=Exploding()).ingest(
            FileReplay(path, "jsonl", batch_size=10)
        )
    assert _matches(sqlite_engine, "quokkaword") == {f"p{i}" for i in range(10)}
    _check_index(sqlite_engine)
    with sqlite_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM posts_fts_bulk")).scalar_one() == 0
