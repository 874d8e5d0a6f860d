"""Ingest throughput of the replay path (file → pipeline → database), posts/s.

Baseline, same run and same data: the naive way — one ORM INSERT per post, with its author
looked up and created one at a time — on the first 1/40 of the corpus; rates are compared.
After a warm-up of both on a slice, subject and baseline alternate, each into a fresh
database, five times at default size; medians of the repetitions.
"""

from __future__ import annotations

import gc
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
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
# Subject and baseline alternate (subject, baseline, subject, baseline, …), each into a fresh
# database, after a warm-up of both on a slice; the figure is the median of the repetitions.
REPEAT = {"quick": 1, "default": 5, "large": 5}
NAIVE_SHARE = 40  # the naive path is ~20x slower: it runs on 1/40 of the corpus (>= 200)
WARMUP_POSTS = (2_000, 50)  # warm-up slices: the pipeline's (at most n / 10), the naive's
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
        lines = corpus.read_bytes().splitlines(keepends=True)
        n_naive = min(len(lines), max(200, n // NAIVE_SHARE))
        slices = Slices(
            corpus=corpus,
            naive=_slice(workdir / "naive.jsonl", lines, n_naive),
            naive_posts=n_naive,
            warm=_slice(workdir / "warm.jsonl", lines, min(WARMUP_POSTS[0], n // 10)),
            warm_naive=_slice(workdir / "warm-naive.jsonl", lines, WARMUP_POSTS[1]),
        )
        targets: list[tuple[str, str | None]] = [("sqlite", None)]
        if database and not database.startswith("sqlite"):
            targets.append(("postgresql", database))
        for label, url in targets:
            figures.append(_measure(label, url, workdir, slices, n, size))
    return figures


@dataclass(frozen=True, slots=True)
class Slices:
    corpus: Path  # the subject's, all n posts
    naive: Path  # the baseline's: the first n / NAIVE_SHARE posts
    naive_posts: int
    warm: Path  # the warm-ups'
    warm_naive: Path


def _slice(path: Path, lines: list[bytes], count: int) -> Path:
    path.write_bytes(b"".join(lines[:count]))
    return path


def _measure(
    label: str, url: str | None, workdir: Path, slices: Slices, n: int, size: Size
) -> Figure:
    counts: dict[str, int] = {}
    engine: list[Engine] = []
    with ExitStack() as outer:
        stack = ExitStack()
        outer.callback(lambda: stack.close())

        def setup() -> None:
            """A fresh, empty database for the next call; the last one is dropped."""
            nonlocal stack
            stack.close()
            stack = ExitStack()
            engine[:] = [stack.enter_context(fresh_database(url, workdir))]
            gc.collect()  # not inside a timed call

        # Warm-up on slices, untimed: imports, compiled statements, the page cache.
        setup()
        pipeline_ingest(engine[0], slices.warm)
        setup()
        naive_ingest(engine[0], slices.warm_naive)

        def subject() -> None:
            counts["subject"] = pipeline_ingest(engine[0], slices.corpus)

        def baseline() -> None:
            counts["baseline"] = naive_ingest(engine[0], slices.naive)

        pair = interleaved(subject, baseline, repeat=REPEAT[size], warmup=0, setup=setup)
        stack.close()
    pair.baseline = pair.baseline * n / slices.naive_posts  # same unit: seconds for n posts
    pair.speedup = pair.speedup * n / slices.naive_posts
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
