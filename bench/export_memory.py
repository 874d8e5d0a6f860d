"""The brand export's memory stays flat: peak traced allocations while streaming 1,000
and 10,000 conversations (SQLite, one post each).

Run: ``.venv/bin/python bench/export_memory.py jsonl`` (or ``csv``).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

from earful.brands.service import create_brand
from earful.connectors.base import Batch
from earful.conversations import export
from earful.db import make_engine, transaction
from earful.migrate import upgrade
from earful.pipeline.runner import Pipeline
from earful.pipeline.schema import PostIn
from earful.pipeline.stages import NullClassifier


def posts(start: int, stop: int, now: datetime) -> list[PostIn]:
    return [
        PostIn("x", f"p{i}", f"a{i}", f"acme my bag {i} is lost " * 5,
               now - timedelta(minutes=i), author_handle=f"h{i}")
        for i in range(start, stop)
    ]  # fmt: skip


def run(n: int, path: str, fmt: str) -> None:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with transaction(engine) as s:
        brand_id = create_brand(s, "acme", "Acme", ["acme"], {}).id
    pipeline = Pipeline(engine, classifier=NullClassifier())
    now = datetime.now(UTC)
    for start in range(0, n, 1000):
        with engine.begin() as conn:
            batch = Batch(posts=posts(start, min(n, start + 1000), now))
            pipeline.process(conn, batch, "bench", source_brand=brand_id, detect=False)
    tracemalloc.start()
    began, size = time.perf_counter(), 0
    with engine.connect() as conn:
        for chunk in export.encode(export.conversations(conn, brand_id), fmt):
            size += len(chunk)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    took = time.perf_counter() - began
    print(f"{n} convs {fmt}: {size / 1e6:.2f} MB out, peak {peak / 1e6:.2f} MB, {took:.1f}s")


if __name__ == "__main__":
    for count in (1000, 10000):
        run(count, os.path.join(tempfile.mkdtemp(), "export.db"), sys.argv[1])
