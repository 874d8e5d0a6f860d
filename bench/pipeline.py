"""End-to-end pipeline throughput: a file through normalize → match → classify → thread →
route → store, embedded in one process, against the same corpus through the Redis Stream
and one worker process (the scale-out path's overhead: encoding, Redis, ordering, lock).

Embedded is measured on SQLite (the default) and, with ``--database``, on PostgreSQL; the
stream path needs PostgreSQL and Redis and is compared with embedded PostgreSQL, alternating.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.harness import Figure, Size, interleaved, rate_figure
from bench.workers import _brands, _pg, drain
from earful.capacity.database import fresh_database
from earful.config import get_settings
from earful.connectors.replay import FileReplay
from earful.demo.generate import write
from earful.pipeline.runner import Pipeline

SIZES = {"quick": 1_000, "default": 20_000, "large": 100_000}
BATCH = 250


def embedded(url: str | None, corpus: Path, workdir: Path) -> int:
    with fresh_database(url, workdir) as engine:
        _brands(engine)
        return Pipeline(engine).ingest(FileReplay(corpus, "jsonl", batch_size=BATCH)).ingested


def run(size: Size, database: str | None = None, redis: str | None = None) -> list[Figure]:
    repeat = 1 if size == "quick" else 3
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        corpus = workdir / "corpus.jsonl"
        write(corpus, seed=2, posts=SIZES[size])
        counts: dict[str, int] = {}

        def sqlite() -> None:
            counts["sqlite"] = embedded(None, corpus, workdir)

        pair = interleaved(sqlite, None, repeat=repeat, warmup=0)
        figures.append(rate_figure("pipeline", "embedded, file -> SQLite", pair, counts["sqlite"]))
        pg = _pg(database)
        if pg is None:
            return figures
        redis_url = redis or get_settings().redis_url

        def stream() -> None:
            _s, counts["stream"], _l = drain(pg, redis_url, corpus, 1, workdir, None, BATCH)

        def embedded_pg() -> None:
            counts["pg"] = embedded(pg, corpus, workdir)

        # drain() times from the first read; here the whole run counts, fork included.
        # Five rounds: each is ~25 s a side, long enough for the host's speed to change
        # within it, so the figure is the median of five rounds' ratios.
        pair = interleaved(stream, embedded_pg, repeat=1 if size == "quick" else 5, warmup=0)
        figures.append(
            rate_figure(
                "pipeline",
                "stream + 1 worker -> PostgreSQL (baseline: embedded -> PostgreSQL)",
                pair,
                counts["stream"],
                target="overhead of the stream <= 25 %",
                passed=lambda v, b: v >= 0.75 * b,
            )
        )
    return figures
