"""Ingest throughput of the replay path (file → pipeline → database), posts/s.

Baseline, same run and same data: the naive way — one ORM INSERT per post, with its author
looked up and created one at a time.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from earful.benchmarks.harness import Figure, Size, interleaved, rate_figure
from earful.brands.service import create_brand
from earful.connectors.replay import FileReplay
from earful.connectors.wire import parse_post_json
from earful.db import make_engine, transaction
from earful.demo.generate import write
from earful.migrate import upgrade
from earful.models import Identity, Post
from earful.pipeline.runner import Pipeline
from earful.pipeline.stages import NullClassifier

SIZES = {"quick": 1_000, "default": 40_000, "large": 200_000}
TARGET = ">= 20,000 posts/s on SQLite, >= 10x the naive baseline"


@contextmanager
def fresh_database(url: str | None, workdir: Path) -> Iterator[Engine]:
    """An empty migrated database: a new SQLite file, or a new schema on PostgreSQL."""
    if url is None or url.startswith("sqlite"):
        path = workdir / f"{uuid.uuid4().hex}.db"
        engine = make_engine(f"sqlite:///{path}")
    else:
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = make_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in url else "?"
        engine = make_engine(f"{url}{sep}options=-csearch_path%3D{schema}")
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        if url is None or url.startswith("sqlite"):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        else:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def pipeline_ingest(engine: Engine, corpus: Path) -> int:
    """The replay path with labels left empty, like the baseline: the classifiers have
    their own suite (``classify``) and the whole chain is the ``pipeline`` suite."""
    with transaction(engine) as session:
        brand_id = create_brand(session, "bench", "Bench").id
    pipeline = Pipeline(engine, classifier=NullClassifier())
    return pipeline.ingest(FileReplay(corpus, "jsonl", batch_size=5000), brand_id).ingested


def naive_ingest(engine: Engine, corpus: Path) -> int:
    """One ORM INSERT per post, committed per post: what a first version would do."""
    n = 0
    with Session(engine) as session:
        for line in corpus.read_bytes().splitlines():
            post = parse_post_json(line)
            if session.scalar(
                select(Post.id).where(
                    Post.network == post.network, Post.external_id == post.external_id
                )
            ):
                continue
            author = session.scalar(
                select(Identity).where(
                    Identity.network == post.network, Identity.external_id == post.author_id
                )
            )
            if author is None:
                author = Identity(
                    network=post.network, external_id=post.author_id, handle=post.author_handle
                )
                session.add(author)
                session.flush()
            session.add(
                Post(
                    network=post.network,
                    external_id=post.external_id,
                    identity_id=author.id,
                    text=post.text,
                    created_at=post.created_at,
                    reply_to_external_id=post.reply_to,
                    raw=line,
                )
            )
            session.commit()
            n += 1
    return n


def _one_core() -> None:
    """The target is per core: keep this process on one CPU where the OS allows it."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def run(size: Size, database: str | None = None) -> list[Figure]:
    _one_core()
    n = SIZES[size]
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        corpus = workdir / "corpus.jsonl"
        write(corpus, seed=1, posts=n)
        naive_corpus = workdir / "naive.jsonl"
        # The naive path is ~100x slower: time it on a slice, compare rates.
        lines = corpus.read_bytes().splitlines(keepends=True)[: max(200, n // 20)]
        naive_corpus.write_bytes(b"".join(lines))
        n_naive = len(lines)
        targets: list[tuple[str, str | None]] = [("sqlite", None)]
        if database and not database.startswith("sqlite"):
            targets.append(("postgresql", database))
        for label, url in targets:
            figures.append(_measure(label, url, workdir, corpus, naive_corpus, n, n_naive, size))
    return figures


def _measure(
    label: str,
    url: str | None,
    workdir: Path,
    corpus: Path,
    naive_corpus: Path,
    n: int,
    n_naive: int,
    size: Size,
) -> Figure:
    counts: dict[str, int] = {}
    engines: dict[str, Engine] = {}
    with ExitStack() as outer:
        stack = ExitStack()
        outer.callback(stack.close)

        def setup() -> None:
            nonlocal stack
            stack.close()  # each repetition starts from empty databases
            stack = ExitStack()
            for key in ("subject", "baseline"):
                engines[key] = stack.enter_context(fresh_database(url, workdir))

        def subject() -> None:
            counts["subject"] = pipeline_ingest(engines["subject"], corpus)

        def baseline() -> None:
            counts["baseline"] = naive_ingest(engines["baseline"], naive_corpus)

        pair = interleaved(
            subject, baseline, repeat=1 if size == "quick" else 3, warmup=0, setup=setup
        )
        stack.close()
    pair.baseline = pair.baseline * n / n_naive  # same unit: seconds for n posts
    return rate_figure(
        "ingest",
        f"replay jsonl -> {label} (no labels)",
        pair,
        counts["subject"],
        target=TARGET if label == "sqlite" else ">= 10x the naive baseline",
        passed=(lambda v, b: v >= 20_000 and v >= 10 * b)
        if label == "sqlite"
        else (lambda v, b: v >= 10 * b),
    )
