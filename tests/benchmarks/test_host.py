"""The host probe: a fixed workload timed around every suite, reported as the host suite."""

from __future__ import annotations

import pytest

from bench import host
from bench.host import REFERENCE, HostSpeed, around, probe, workload


def test_the_workload_is_deterministic() -> None:
    assert workload(3) == workload(3)
    assert workload(3) != workload(4)
    assert workload(3, seed=1) != workload(3)


def test_a_probe_is_a_positive_rate() -> None:
    assert probe("quick") > 0


def test_figures_are_the_run_median_and_the_speed_around_each_suite(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    speeds = iter([100.0, 140.0, 120.0])
    monkeypatch.setattr(host, "probe", lambda size: next(speeds))
    h = HostSpeed("quick")
    h.start()
    h.after("ingest")
    h.after("matcher")
    run, ingest, matcher = h.figures()
    assert (run.suite, run.name, run.unit) == ("host", REFERENCE, "ops/s")
    assert run.value == 120.0 and run.n == 3
    assert run.spread == pytest.approx(40 / 120)  # the drift within the run
    assert ingest.name == around("ingest") and ingest.value == 120.0
    assert ingest.spread == pytest.approx(40 / 120)
    assert matcher.name == around("matcher") and matcher.value == 130.0
    assert matcher.spread == pytest.approx(20 / 130)
    assert HostSpeed("quick").figures() == []
