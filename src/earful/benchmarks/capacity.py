"""`earful bench capacity`: how many posts per second this box sustains, and what limits it.

Posts arrive on a clock at a fixed offered rate (step after step, doubling) and go through
the whole embedded pipeline — normalize, match against N listening queries, classify,
thread, route, store — in batches of what has arrived. A step is sustainable when the p99
latency from arrival to commit stays under the bound and the backlog does not grow. The
bottleneck is the stage that took the largest share of the time in the first step that
broke (or in the last step run).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import orjson
from sqlalchemy import Engine, select

from earful.benchmarks.ingest import fresh_database
from earful.brands.service import create_brand
from earful.connectors.base import Batch
from earful.connectors.wire import parse_post_json
from earful.db import transaction
from earful.demo.generate import brands_config, generate
from earful.listening.engine import LiveMatcher, QuerySource
from earful.models import Brand
from earful.pipeline.runner import Pipeline
from earful.pipeline.schema import PostIn

HOLD_TRIES = 3


@dataclass(slots=True)
class Step:
    rate: int
    posts: int
    p50_ms: float
    p99_ms: float
    lag_s: float  # how far behind the last arrival the last commit was
    sustainable: bool
    stage_share: dict[str, float] = field(default_factory=dict)

    @property
    def bottleneck(self) -> str:
        return max(self.stage_share, key=lambda k: self.stage_share[k]) if self.stage_share else "-"


@dataclass(slots=True)
class Capacity:
    queries: int
    bound_s: float
    steps: list[Step]
    # The sustainable rate replayed for a long time, when asked (``hold_s``).
    hold: Step | None = None

    @property
    def sustainable_rate(self) -> int:
        ok = [s.rate for s in self.steps if s.sustainable]
        return max(ok) if ok else 0

    @property
    def bottleneck(self) -> str:
        broken = [s for s in self.steps if not s.sustainable]
        step = broken[0] if broken else self.steps[-1]
        return step.bottleneck


def synthetic_queries(n: int, brand_id: int) -> Iterator[QuerySource]:
    """Load for the automaton: queries shaped like real ones that never hit the corpus."""
    for i in range(n):
        yield QuerySource(
            key=("synthetic", i),
            brand_id=brand_id,
            text=f'("zorblat{i} air" OR #zorb{i} OR @zorbhelp{i} OR zrefund{i}*) NOT "zq{i} view"',
        )


def _posts(seed: int, n: int) -> Iterator[PostIn]:
    """``n`` demo posts, generated and parsed as they are taken (as a connector would):
    a five-minute hold at thousands of posts/s held in memory at once took gigabytes."""
    docs = islice(generate(seed=seed, posts=n), n)
    return (parse_post_json(orjson.dumps(doc)) for doc in docs)


def _matcher(engine: Engine, queries: int) -> LiveMatcher:
    sources: list[QuerySource] = []
    with transaction(engine) as session:
        for cfg in brands_config():
            brand = create_brand(session, cfg["slug"], cfg["name"], cfg["keywords"], cfg["handles"])
            for name, text in cfg["queries"].items():
                sources.append(QuerySource((cfg["slug"], name), brand.id, text))
        sink = create_brand(session, "synthetic", "Synthetic load", [])
        sources.extend(synthetic_queries(max(0, queries - len(sources)), sink.id))
    return LiveMatcher(sources)


def run_step(
    pipeline: Pipeline,
    engine: Engine,
    rate: int,
    seconds: float,
    seed: int,
    bound_s: float,
    max_batch: int = 5000,
) -> Step:
    n = max(1, int(rate * seconds))
    posts = _posts(seed, n)
    before = dict(pipeline.stage_seconds)
    latencies: list[float] = []
    done = 0.0
    i = 0
    t0 = time.perf_counter()
    while i < n:
        now = time.perf_counter() - t0
        arrived = min(n, int(now * rate) + 1)
        if arrived <= i:
            time.sleep(max(0.0, min(0.05, i / rate - now)))
            continue
        take = list(islice(posts, min(arrived, i + max_batch) - i))
        with engine.begin() as conn:
            pipeline.process(conn, Batch(posts=take), origin="capacity")
        done = time.perf_counter() - t0
        latencies.extend(done - j / rate for j in range(i, i + len(take)))
        i += len(take)
    spent = {k: v - before.get(k, 0.0) for k, v in pipeline.stage_seconds.items()}
    total = sum(spent.values()) or 1.0
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    lag = max(0.0, done - (n - 1) / rate)
    return Step(
        rate=rate,
        posts=n,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=p99 * 1000,
        lag_s=lag,
        sustainable=p99 <= bound_s and lag <= bound_s,
        stage_share={k: v / total for k, v in spent.items()},
    )


def plan(
    queries: int = 1000,
    seconds: float = 10.0,
    start_rate: int = 250,
    max_rate: int = 64_000,
    bound_s: float = 2.0,
    database: str | None = None,
    hold_s: float = 0.0,
) -> Capacity:
    """Double the offered rate until a step breaks the latency or lag bound; then, if
    ``hold_s``, replay the sustainable rate that long to show the lag does not grow."""
    steps: list[Step] = []
    with tempfile.TemporaryDirectory() as tmp, fresh_database(database, Path(tmp)) as engine:
        pipeline = Pipeline(engine, matcher=_matcher(engine, queries))
        with engine.connect() as conn:
            assert conn.scalar(select(Brand.id).where(Brand.slug == "skyward")) is not None
        rate, seed = start_rate, 100
        while rate <= max_rate:
            step = run_step(pipeline, engine, rate, seconds, seed, bound_s)
            steps.append(step)
            if not step.sustainable:
                break
            rate, seed = rate * 2, seed + 1
        result = Capacity(queries=queries, bound_s=bound_s, steps=steps)
        rate = result.sustainable_rate
        for attempt in range(HOLD_TRIES if hold_s > 0 and rate else 0):
            # A short step can hold a rate a long run cannot (the database grows): back off
            # by a quarter until the long run holds too.
            result.hold = run_step(pipeline, engine, rate, hold_s, 999 - attempt, bound_s)
            if result.hold.sustainable:
                break
            rate = int(rate * 0.75)
    return result
