"""How the benchmarks sample: percentiles, baseline calls among subject calls, warm-ups."""

from __future__ import annotations

import itertools
import time
import types
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bench import harness, ingest, matcher
from bench.harness import interleaved, interleaved_chunks, percentile
from bench.inbox import Latencies, latencies, schedule


def test_percentile_interpolates_between_ranks() -> None:
    values = [float(v) for v in range(1, 301)]  # 1 … 300, shuffled order does not matter
    assert percentile(values[::-1], 95) == pytest.approx(285.05)
    assert percentile(values, 50) == pytest.approx(150.5)
    assert percentile(values, 0) == 1.0 and percentile(values, 100) == 300.0
    assert percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError):
        percentile([], 95)


class _Host:
    """A clock on which work runs at full speed, then at half speed, in turns: as this box
    does (stretches of 0.1 s to seconds)."""

    def __init__(self, stretch: float) -> None:
        self.now = 0.0
        self.stretch = stretch

    def perf_counter(self) -> float:
        return self.now

    def work(self, units: float) -> None:
        for _ in range(round(units * 10)):
            self.now += 0.1 * (2 if (self.now // self.stretch) % 2 else 1)


@pytest.mark.parametrize("stretch", [50.0, 100.0])
def test_parts_keep_the_ratio_where_whole_repetitions_lose_it(
    stretch: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The baseline costs 3× the subject; the host's speed halves in stretches about as long
    # as a repetition (subject 20 units, baseline 60).
    host = _Host(stretch)
    monkeypatch.setattr(harness, "time", types.SimpleNamespace(perf_counter=host.perf_counter))
    calls: list[tuple[str, int]] = []

    def part(side: str, units: float) -> Callable[[int], None]:
        def call(i: int) -> None:
            calls.append((side, i))
            host.work(units)

        return call

    parts = interleaved_chunks(part("s", 1), part("b", 3), chunks=20, repeat=5, warmup=1)
    assert calls[:6] == [("s", 0), ("b", 0), ("s", 0), ("b", 0), ("s", 1), ("b", 1)]
    assert len(calls) == 2 + 5 * 20 * 2
    assert parts.speedup == pytest.approx(3.0, rel=0.05)
    assert parts.baseline / parts.subject == pytest.approx(3.0, rel=0.05)

    host.now = 0.0
    whole = interleaved(lambda: host.work(20), lambda: host.work(60), repeat=5)
    # what the parts are for: the ratio of the two medians is off by a third or more
    assert whole.baseline / whole.subject > 3.0 * 1.3


@pytest.mark.parametrize(("n", "b"), [(300, 10), (300, 60), (10, 3), (10, 4), (3, 5)])
def test_baseline_calls_are_spread_evenly_among_subject_calls(n: int, b: int) -> None:
    order = schedule(n, b)
    assert order.count(True) == n and order.count(False) == b
    assert order[0] is True  # a subject call first
    if b <= n // 2:  # then every baseline call between two subject calls, evenly apart
        assert order[-1] is True
        inner = [len(list(g)) for k, g in itertools.groupby(order) if k][1:-1]
        assert max(inner) - min(inner) <= 1


def test_three_hundred_and_ten_puts_a_baseline_after_every_thirtieth() -> None:
    order = schedule(300, 10)
    positions = [i - k for k, i in enumerate(i for i, s in enumerate(order) if not s)]
    assert positions == [15, 45, 75, 105, 135, 165, 195, 225, 255, 285]  # subjects before it


def test_latencies_interleave_and_time_every_call() -> None:
    calls: list[str] = []
    lat = latencies(lambda: calls.append("s"), lambda: calls.append("b"), 6, 2)
    assert calls[:2] == ["s", "b"]  # the warm-ups, not timed
    assert "".join(calls[2:]) == "".join("s" if x else "b" for x in schedule(6, 2))
    assert len(lat.subject) == 6 and len(lat.baseline) == 2
    no_warmup: list[str] = []
    latencies(lambda: no_warmup.append("s"), lambda: no_warmup.append("b"), 4, 1, False)
    assert no_warmup.count("b") == 1 and no_warmup[0] == "s"


def test_a_cheap_baseline_gets_as_many_calls_as_its_budget_allows() -> None:
    cheap = latencies(lambda: None, lambda: None, 40, 3, baseline_budget_s=1.0)
    assert len(cheap.baseline) == 40  # no more than the subject's
    slow = latencies(lambda: None, lambda: time.sleep(0.02), 40, 3, baseline_budget_s=0.1)
    assert 3 <= len(slow.baseline) <= 5  # 0.1 s of 20 ms calls, never below the floor
    floor = latencies(lambda: None, lambda: time.sleep(0.02), 40, 3, baseline_budget_s=0.01)
    assert len(floor.baseline) == 3


def test_the_spread_of_a_p95_is_that_of_each_third() -> None:
    steady = Latencies(subject=[10.0] * 95 + [20.0] * 5, baseline=[30.0])
    assert steady.p95 == pytest.approx(10.5)
    # One third of the run on a host half as fast: the p95 of that third doubles.
    drifting = Latencies(subject=[10.0] * 100 + [20.0] * 100 + [10.0] * 100, baseline=[1.0])
    assert drifting.spread == pytest.approx(1.0)
    assert Latencies(subject=[10.0] * 300, baseline=[1.0]).spread == 0.0


def test_the_speedup_compares_each_old_call_with_the_new_calls_around_it() -> None:
    # The old query costs 3x the page. Ten old calls among 300 page calls (as for search);
    # the host is at half speed around six of the old calls: 40 % of the page calls are
    # slow but 60 % of the old ones, so the medians are fast 10 ms and slow 60 ms.
    order = schedule(300, 10)
    slow_near: set[int] = set()
    subject: list[float] = []
    baseline: list[float] = []
    for j in range(6):
        slow_near.update(range(j * 30 + 5, j * 30 + 25))  # the 20 page calls around it
    for is_subject in order:
        if is_subject:
            subject.append(20.0 if len(subject) in slow_near else 10.0)
        else:
            baseline.append(60.0 if len(baseline) < 6 else 30.0)
    lat = Latencies(subject, baseline, order)
    assert lat.speedup == pytest.approx(3.0)
    assert Latencies(subject, baseline).speedup == pytest.approx(6.0)  # medians, no order
    # As many old calls as page calls, on a host slow in stretches of 20 calls: each old
    # call is compared with the page calls just before and after it.
    order = schedule(300, 300)
    speed = [2.0 if (i // 20) % 3 == 0 else 1.0 for i in range(len(order))]
    pages = [10.0 * x for x, is_s in zip(speed, order, strict=True) if is_s]
    old = [25.0 * x for x, is_s in zip(speed, order, strict=True) if not is_s]
    assert Latencies(pages, old, order).speedup == pytest.approx(2.5)


def test_ingest_runs_a_naive_part_after_each_batch_of_one_real_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str, object]] = []

    def replay(engine: Engine, corpus: Path, batch_size: int = 5000, on_batch=None) -> int:  # type: ignore[no-untyped-def]
        calls.append(("subject", corpus.name, engine))
        for _ in range(4):  # a corpus of 4 batches: the hook runs after each
            if on_batch is not None:
                on_batch(None, None)
        return 2000

    def naive(engine: Engine, corpus: Path) -> int:
        calls.append(("baseline", corpus.name, engine))
        return 5

    monkeypatch.setattr(ingest, "pipeline_ingest", replay)
    monkeypatch.setattr(ingest, "naive_ingest", naive)
    lines = [b"{}\n"] * 2000
    parts = ingest._split(tmp_path / "naive", lines[:20], 4)
    assert [len(p.read_bytes().splitlines()) for p in parts] == [5, 5, 5, 5]
    slices = ingest.Slices(
        corpus=tmp_path / "all.jsonl",
        posts=2000,
        batch=500,
        naive=parts,
        naive_posts=20,
        warm=tmp_path / "warm.jsonl",
        warm_naive=tmp_path / "warm-naive.jsonl",
    )
    fig = ingest._measure("sqlite", None, tmp_path, slices, repeat=3)
    one_round = [("subject", "all.jsonl")] + [("baseline", f"naive-{i}.jsonl") for i in range(4)]
    warm = [("subject", "warm.jsonl"), ("baseline", "warm-naive.jsonl")]
    assert [(k, c) for k, c, _ in calls] == warm + one_round * 3
    # every round writes into two fresh databases of its own, as the warm-up did
    rounds = [calls[:2]] + [calls[2 + 5 * r : 7 + 5 * r] for r in range(3)]
    engines = [{k: e for k, _, e in r} for r in rounds]
    assert len({id(e[k]) for e in engines for k in e}) == 2 * len(rounds)
    assert fig.n == 2000 and fig.value > 0 and fig.baseline is not None and fig.ratio


def test_the_matchers_scaling_is_timed_in_alternating_parts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Matching a post costs 1.4 units at many queries and 1 unit at few; the host halves
    # its speed in stretches as long as a whole side of a repetition.
    host = _Host(stretch=40.0)
    monkeypatch.setattr(harness, "time", types.SimpleNamespace(perf_counter=host.perf_counter))

    class Matcher:
        def __init__(self, units_per_post: float) -> None:
            self.units = units_per_post

        def match(self, posts: list[object]) -> None:
            host.work(self.units * len(posts))

    parts = [[object()] * 2 for _ in range(20)]
    few, many = (Matcher(1.0), parts), (Matcher(1.4), parts)
    fig = matcher._scaling_figure(100, few, 100_000, many, "default")
    assert fig.name == "time per post at 100,000 queries / at 100 queries"
    assert fig.value == pytest.approx(1.4, rel=0.05) and fig.passed
    assert fig.n == 40 and fig.higher_is_better is False
