"""How the benchmarks sample: percentiles, baseline calls among subject calls, warm-ups."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine

from earful.benchmarks import ingest
from earful.benchmarks.harness import percentile
from earful.benchmarks.inbox import Latencies, latencies, schedule


def test_percentile_interpolates_between_ranks() -> None:
    values = [float(v) for v in range(1, 301)]  # 1 … 300, shuffled order does not matter
    assert percentile(values[::-1], 95) == pytest.approx(285.05)
    assert percentile(values, 50) == pytest.approx(150.5)
    assert percentile(values, 0) == 1.0 and percentile(values, 100) == 300.0
    assert percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError):
        percentile([], 95)


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


def test_the_spread_of_a_p95_is_that_of_each_third() -> None:
    steady = Latencies(subject=[10.0] * 95 + [20.0] * 5, baseline=[30.0])
    assert steady.p95 == pytest.approx(10.5)
    # One third of the run on a host half as fast: the p95 of that third doubles.
    drifting = Latencies(subject=[10.0] * 100 + [20.0] * 100 + [10.0] * 100, baseline=[1.0])
    assert drifting.spread == pytest.approx(1.0)
    assert Latencies(subject=[10.0] * 300, baseline=[1.0]).spread == 0.0


def test_ingest_alternates_subject_and_baseline_after_a_warm_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, str, object]] = []

    def fake(kind: str) -> Callable[[Engine, Path], int]:
        def ingest(engine: Engine, corpus: Path) -> int:
            calls.append((kind, corpus.name, engine))
            return 1000

        return ingest

    monkeypatch.setattr(ingest, "pipeline_ingest", fake("subject"))
    monkeypatch.setattr(ingest, "naive_ingest", fake("baseline"))
    paths = {name: tmp_path / name for name in ("all", "naive", "warm", "warm-naive")}
    slices = ingest.Slices(
        corpus=paths["all"],
        naive=paths["naive"],
        naive_posts=25,
        warm=paths["warm"],
        warm_naive=paths["warm-naive"],
    )
    fig = ingest._measure("sqlite", None, tmp_path, slices, 1000, "default")
    assert [(k, c) for k, c, _ in calls] == [
        ("subject", "warm"),
        ("baseline", "warm-naive"),
        *[("subject", "all"), ("baseline", "naive")] * ingest.REPEAT["default"],
    ]
    assert len({id(e) for _, _, e in calls}) == len(calls)  # a fresh database each
    assert fig.value > 0 and fig.baseline is not None and fig.n == 1000
