"""`earful bench capacity`: how many posts per second this box sustains, and what limits it.

Posts arrive on a clock at a fixed offered rate and go through the whole embedded
pipeline — normalize, match against N listening queries, classify, thread, route, store —
in batches of what has arrived (one batch per tick at most, as a connector hands them
over). The search doubles the rate until a step breaks, then bisects between the last step
that held and the first that broke. A step holds when

* the p99 latency from arrival to commit is under the bound,
* the backlog (how long ago the oldest waiting post arrived) stays under the bound, and
* the pipeline was busy for at most ``headroom`` of the step: a box that is busy all the
  time in a short step has nothing left for the database growing and the host's speed
  drifting over a long run.

``hold_s`` then replays the rate found for that long, the backlog sampled per window, and
the hold passes only when its lag does not grow: the trend of the windows' lag, carried
forward for another run as long, still ends under the bound. If it fails, the rate backs
off and the hold runs again. The bottleneck is the stage with the largest share of the time
in the first step that broke (or the last step run).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import orjson
from sqlalchemy import Engine

from earful.brands.service import create_brand
from earful.capacity.database import fresh_database
from earful.capacity.stats import percentile
from earful.connectors.base import Batch
from earful.connectors.wire import parse_post_json
from earful.db import transaction
from earful.demo.generate import brands_config, generate
from earful.listening.engine import LiveMatcher, QuerySource
from earful.pipeline.runner import Pipeline
from earful.pipeline.schema import PostIn

HOLD_TRIES = 3
BACK_OFF = 0.8  # a hold that fails retries at this share of its rate
REFINE_STEPS = 2  # bisections between the last step that held and the first that broke
TICK_S = 0.05  # at most one batch per tick, like a connector's hand-off
ROUND_TO = 50  # rates found by bisection or back-off are multiples of this


@dataclass(slots=True)
class Window:
    """One slice of a step: when it ended, what was committed in it, the worst lag."""

    end_s: float
    posts: int
    lag_s: float
    p99_ms: float


@dataclass(slots=True)
class Step:
    rate: int
    posts: int
    seconds: float
    p50_ms: float
    p99_ms: float
    lag_s: float  # the largest backlog seen: how long ago the oldest waiting post arrived
    busy: float  # share of the step's wall time spent processing batches
    lag_growth_s: float  # the windows' lag trend, carried forward for another step as long
    sustainable: bool
    phase: str = "step"  # "step" (doubling), "refine" (bisection) or "hold"
    stage_share: dict[str, float] = field(default_factory=dict)
    windows: list[Window] = field(default_factory=list)

    @property
    def bottleneck(self) -> str:
        return max(self.stage_share, key=lambda k: self.stage_share[k]) if self.stage_share else "-"

    def why(self, bound_s: float, headroom: float) -> str:
        """What broke, in words; empty when the step held."""
        reasons = []
        if self.p99_ms > bound_s * 1000:
            reasons.append(f"p99 {self.p99_ms:,.0f} ms > {bound_s * 1000:,.0f}")
        if self.lag_s > bound_s:
            reasons.append(f"lag {self.lag_s:.1f} s > {bound_s:g}")
        # A hold is judged on its lag alone: the headroom is for what a short step cannot show.
        if self.busy > headroom and self.phase != "hold":
            reasons.append(f"busy {self.busy:.0%} > {headroom:.0%}")
        if self.lag_s + self.lag_growth_s > bound_s:
            reasons.append(f"lag growing {self.lag_growth_s:+.1f} s per run")
        return "; ".join(reasons)


@dataclass(slots=True)
class Capacity:
    queries: int
    bound_s: float
    headroom: float
    steps: list[Step]
    # The rate found replayed for a long time, when asked (``hold_s``): one per try.
    holds: list[Step] = field(default_factory=list)

    @property
    def step_rate(self) -> int:
        """The fastest short step that held."""
        ok = [s.rate for s in self.steps if s.sustainable]
        return max(ok) if ok else 0

    @property
    def hold(self) -> Step | None:
        return self.holds[-1] if self.holds else None

    @property
    def sustainable_rate(self) -> int:
        """The rate to plan with: the one a long hold held when one was run."""
        if not self.holds:
            return self.step_rate
        return self.holds[-1].rate if self.holds[-1].sustainable else 0

    @property
    def bottleneck(self) -> str:
        broken = sorted((s for s in self.steps if not s.sustainable), key=lambda s: s.rate)
        step = broken[0] if broken else max(self.steps, key=lambda s: s.rate)
        return step.bottleneck


OnStep = Callable[[Step], None]
OnWindow = Callable[[int, Window], None]  # (rate, window) while a step runs


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


def lag_growth(windows: list[Window], seconds: float) -> float:
    """How much the lag would grow over another ``seconds`` at the windows' trend (least
    squares over the windows' worst lag; the first window, which starts from an empty
    backlog, is left out). Zero with fewer than four windows: too few for a trend."""
    points = windows[1:]
    if len(points) < 3 or len({w.end_s for w in points}) < 2:
        return 0.0
    fit = statistics.linear_regression([w.end_s for w in points], [w.lag_s for w in points])
    return max(0.0, fit.slope * seconds)


def run_step(
    pipeline: Pipeline,
    engine: Engine,
    rate: int,
    seconds: float,
    seed: int,
    bound_s: float,
    headroom: float = 0.8,
    windows: int = 5,
    max_batch: int = 5000,
    phase: str = "step",
    on_window: OnWindow | None = None,
) -> Step:
    """Offer ``rate`` posts/s for ``seconds`` and measure what the pipeline made of it."""
    n = max(1, int(rate * seconds))
    posts = _posts(seed, n)
    before = dict(pipeline.stage_seconds)
    latencies: list[float] = []
    slices: list[Window] = []
    window_s = seconds / max(1, windows)
    window_start, window_lag, window_posts = 0, 0.0, 0
    busy = worst_lag = done = 0.0
    i = 0
    t0 = time.perf_counter()
    next_tick = 0.0
    while i < n:
        now = time.perf_counter() - t0
        arrived = min(n, int(now * rate) + 1)
        if arrived <= i or now < next_tick:
            time.sleep(max(0.0, min(TICK_S, max(next_tick, i / rate) - now)))
            continue
        next_tick = now + TICK_S
        # The backlog before this batch: the oldest waiting post arrived i / rate after t0.
        worst_lag = max(worst_lag, now - i / rate)
        window_lag = max(window_lag, now - i / rate)
        take = list(islice(posts, min(arrived, i + max_batch) - i))
        started = time.perf_counter()
        with engine.begin() as conn:
            pipeline.process(conn, Batch(posts=take), origin="capacity")
        finished = time.perf_counter()
        busy += finished - started
        done = finished - t0
        latencies.extend(done - j / rate for j in range(i, i + len(take)))
        i += len(take)
        window_posts += len(take)
        last = len(slices) + 1 >= windows  # the last window runs to the end
        if (done >= window_s * (len(slices) + 1) and not last) or i >= n:
            window = Window(
                end_s=done,
                posts=window_posts,
                lag_s=window_lag,
                p99_ms=percentile(latencies[window_start:], 99) * 1000,
            )
            slices.append(window)
            if on_window:
                on_window(rate, window)
            window_start, window_posts, window_lag = len(latencies), 0, 0.0
    spent = {k: v - before.get(k, 0.0) for k, v in pipeline.stage_seconds.items()}
    total = sum(spent.values()) or 1.0
    step = Step(
        rate=rate,
        posts=n,
        seconds=round(done, 3),
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        lag_s=max(worst_lag, done - (n - 1) / rate),
        busy=busy / max(done, 1e-9),
        lag_growth_s=lag_growth(slices, seconds),
        sustainable=False,
        phase=phase,
        stage_share={k: v / total for k, v in spent.items()},
        windows=slices,
    )
    step.sustainable = not step.why(bound_s, headroom)  # the reasons are the one rule
    return step


def _round(rate: float) -> int:
    return max(ROUND_TO, round(rate / ROUND_TO) * ROUND_TO)


def plan(
    queries: int = 1000,
    seconds: float = 10.0,
    start_rate: int = 250,
    max_rate: int = 64_000,
    bound_s: float = 2.0,
    database: str | None = None,
    hold_s: float = 0.0,
    headroom: float = 0.8,
    on_step: OnStep | None = None,
    on_window: OnWindow | None = None,
) -> Capacity:
    """Double the offered rate until a step breaks, bisect between the last step that held
    and the first that broke; then, if ``hold_s``, replay the fastest rate that held that
    long, backing off until the lag does not grow. ``on_step`` sees each step as it ends,
    ``on_window`` each window of a hold (long holds say how they are going)."""
    result = Capacity(queries=queries, bound_s=bound_s, headroom=headroom, steps=[])
    seeds = iter(range(100, 1_000_000))

    def step(rate: int, phase: str) -> Step:
        s = run_step(pipeline, engine, rate, seconds, next(seeds), bound_s, headroom, phase=phase)
        result.steps.append(s)
        if on_step:
            on_step(s)
        return s

    with tempfile.TemporaryDirectory() as tmp, fresh_database(database, Path(tmp)) as engine:
        pipeline = Pipeline(engine, matcher=_matcher(engine, queries))
        _warm_up(pipeline, engine)
        rate, ok, broken = start_rate, 0, 0
        while rate <= max_rate:
            if not step(rate, "step").sustainable:
                broken = rate
                break
            ok, rate = rate, rate * 2
        for _ in range(REFINE_STEPS if ok and broken else 0):
            mid = _round((ok + broken) / 2)
            if mid in (ok, broken):
                break
            if step(mid, "refine").sustainable:
                ok = mid
            else:
                broken = mid
        rate = result.step_rate
        for _ in range(HOLD_TRIES if hold_s > 0 and rate else 0):
            held = run_step(
                pipeline,
                engine,
                rate,
                hold_s,
                next(seeds),
                bound_s,
                headroom,
                windows=max(5, int(hold_s // 30)),
                phase="hold",
                on_window=on_window,
            )
            result.holds.append(held)
            if on_step:
                on_step(held)
            if held.sustainable:
                break
            rate = _round(rate * BACK_OFF)
    return result


def _warm_up(pipeline: Pipeline, engine: Engine) -> None:
    """Load the classifiers and warm the caches before the clock starts: the first step's
    p99 would otherwise be the model loading, not the load."""
    with engine.begin() as conn:
        pipeline.process(conn, Batch(posts=list(_posts(1, 200))), origin="capacity-warm-up")
