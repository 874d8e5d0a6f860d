"""The capacity planner's judgement of a step: the lag trend and the reasons it gives."""

from __future__ import annotations

import pytest

from earful.capacity.planner import Step, Window, lag_growth


def _windows(lags: list[float], every: float = 30.0) -> list[Window]:
    return [
        Window(end_s=every * (k + 1), posts=100, lag_s=lag, p99_ms=50.0)
        for k, lag in enumerate(lags)
    ]


def test_a_flat_lag_does_not_grow() -> None:
    assert lag_growth(_windows([0.9, 0.2, 0.25, 0.2, 0.25, 0.2]), 300) == pytest.approx(0, abs=0.01)


def test_a_creeping_lag_is_carried_forward_over_another_run() -> None:
    # +0.1 s every 30 s window: over another 300 s the lag grows by 1 s more.
    lags = [0.1 * k for k in range(10)]
    assert lag_growth(_windows(lags), 300) == pytest.approx(1.0)


def test_the_first_window_and_short_runs_give_no_trend() -> None:
    # The first window starts from an empty backlog: a drop after it is not a trend.
    assert lag_growth(_windows([0.0, 0.5, 0.5, 0.5]), 300) == 0
    assert lag_growth(_windows([0.1, 0.5, 0.9]), 300) == 0  # two windows after the first


def _step(**kw: float | str) -> Step:
    base: dict[str, float | str] = dict(
        rate=1000,
        posts=10_000,
        seconds=10.0,
        p50_ms=40.0,
        p99_ms=120.0,
        lag_s=0.1,
        busy=0.5,
        lag_growth_s=0.0,
        phase="step",
    )
    base.update(kw)
    return Step(sustainable=False, **base)  # type: ignore[arg-type]


def test_why_names_each_bound_a_step_broke() -> None:
    assert _step().why(2.0, 0.8) == ""
    assert _step(p99_ms=2500.0).why(2.0, 0.8) == "p99 2,500 ms > 2,000"
    assert _step(busy=0.9).why(2.0, 0.8) == "busy 90% > 80%"
    assert _step(lag_s=1.5, lag_growth_s=1.0).why(2.0, 0.8) == "lag growing +1.0 s per run"
    # A hold is judged on its lag, not on how busy it kept the box.
    assert _step(busy=0.95, phase="hold").why(2.0, 0.8) == ""
