"""The ETA suite replays a stretch of demo traffic and scores the published ETA: its
figures exist and are sane at the quick size (nothing here is timed)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench import eta
from earful.engagement import hours


def test_quick_replay_scores_every_measured_conversation(tmp_path: Path) -> None:
    outcome = eta.replay(eta.SIZES["quick"], tmp_path)
    assert outcome.unanswered == 0
    assert outcome.posts > 0 and outcome.answers >= len(outcome.quotes) > 20
    since = eta.START + timedelta(hours=eta.SIZES["quick"].warmup_h)
    teams = {t.slug: hours.parse(eta.TZ, t.spans) for t in eta.TEAMS}
    closed = [q for q in outcome.quotes if not q.open_now]
    assert closed, "the replay has no out-of-hours stretch"
    for q in outcome.quotes:
        assert q.at >= since
        assert q.actual is not None and q.actual > 0
        assert q.published > 0 and q.naive > 0
        assert q.old > 0
        # Every promise is on a whole minute, as published, and never before the post.
        assert round((q.at + timedelta(minutes=q.published)).timestamp()) % 60 == 0
        # The agents keep the measured rate: taken, then answered one handling time later.
        assert q.actual == pytest.approx(q.picked + eta.SERVICE_MEDIAN, abs=1e-6)
    for q in closed:  # "back at": never before the team is in again, nor the answer
        back = hours.next_open(teams[outcome.slugs[q.brand_id]], q.at)
        assert back is not None and back > q.at
        assert q.published > eta.minutes(q.at, back) and q.naive > eta.minutes(q.at, back)
        assert q.actual is not None and q.actual > eta.minutes(q.at, back)

    figures = eta.figures(outcome, "quick")
    names = [f.name for f in figures]
    assert len(names) == len(set(names)) == 10
    by = {f.name.split(" (")[0]: f for f in figures}
    for fig in figures:
        assert fig.suite == "eta" and fig.n > 0
        assert math.isfinite(fig.value) and fig.value >= 0
    median, p90 = by["median |published - actual|"], by["p90 |published - actual|"]
    assert median.value <= p90.value and median.baseline is not None
    assert median.baseline <= (p90.baseline or 0)
    relative = by["p90 |published - actual| / actual"]
    assert relative.target == "<= 25 %" and relative.passed == (relative.value <= 25)
    assert relative.baseline is not None and relative.baseline > 0
    split = [f for f in figures if f.name.startswith("p90 relative error, ")]
    assert sum(f.n for f in split) == relative.n == len(outcome.quotes)
    kept = by["answered by the published time"]
    assert 0 <= kept.value <= 100 and kept.baseline is not None and 0 <= kept.baseline <= 100


def test_the_varied_replay_is_scored_apart_and_against_no_target() -> None:
    at = datetime(2026, 11, 17, 12, 0, tzinfo=UTC)
    quotes = [eta.Quote(1, at, published=15.0, naive=60.0, old=60.0, open_now=True, actual=9.0)]
    outcome = eta.Outcome(quotes, posts=1, answers=1, unanswered=0)
    plain = eta.figures(outcome, "quick")
    varied = eta.figures(outcome, "quick", eta.VARIED)
    assert len(varied) == len(plain)
    assert not {f.name for f in plain} & {f.name for f in varied}  # one table holds both
    assert all(eta.VARIED in f.name for f in varied)
    assert [f.value for f in varied] == [f.value for f in plain]
    assert [f.target for f in varied if f.target] == []
    assert [f.passed for f in plain if f.target] == [False]  # 6 min late on 9: 67 %


def test_figures_of_a_perfect_forecast_and_of_a_late_one() -> None:
    at = datetime(2026, 11, 17, 12, 0, tzinfo=UTC)
    quotes = [
        eta.Quote(1, at, published=15.0, naive=60.0, old=60.0, open_now=True, actual=15.0),
        eta.Quote(1, at, published=30.0, naive=60.0, old=60.0, open_now=True, actual=30.0),
        eta.Quote(1, at, published=45.0, naive=60.0, old=60.0, open_now=False, actual=45.0),
    ]
    outcome = eta.Outcome(quotes, posts=3, answers=3, unanswered=0)
    by = {f.name.split(" (")[0]: f for f in eta.figures(outcome, "quick")}
    relative = by["p90 |published - actual| / actual"]
    assert relative.value == 0 and relative.passed and relative.ratio == math.inf
    assert relative.baseline == pytest.approx(260.0)  # of 300, 100 and 33 %
    assert by["median |published - actual|"].baseline == 30.0 * 60  # seconds
    assert by["answered by the published time"].value == 100.0
    assert by["floor: p90 relative error of the actual time rounded up to the minute"].value == 0
    late = [eta.Quote(1, at, published=15.0, naive=60.0, old=60.0, open_now=True, actual=20.0)]
    fig = {f.name.split(" (")[0]: f for f in eta.figures(eta.Outcome(late, 1, 1, 0), "quick")}
    assert fig["p90 |published - actual| / actual"].value == pytest.approx(25.0)
    assert fig["answered by the published time"].value == 0
    assert fig["answered by the published time"].baseline == 100.0
