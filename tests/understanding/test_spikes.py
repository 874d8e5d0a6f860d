"""The spike detector on synthetic streams: bursts alert early, steady noise never does."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

from earful.alerts.spikes import Mention, SpikeSettings, detect, poisson_surprise, window_of

START = datetime(2026, 3, 2, tzinfo=UTC)
SETTINGS = SpikeSettings()


def steady(rng: random.Random, hours: int, per_hour: float, brand: int = 1) -> list[Mention]:
    """A Poisson stream with a smooth day/night rhythm (5x), a third of it negative."""
    out: list[Mention] = []
    t = START
    end = START + timedelta(hours=hours)
    pid = 0
    while t < end:
        hour = t.hour + t.minute / 60
        rate = per_hour * (1 + 0.67 * math.sin(2 * math.pi * (hour - 9) / 24))
        t += timedelta(hours=rng.expovariate(rate))
        pid += 1
        out.append(Mention(brand, t, rng.random() < 0.33, pid))
    return out


def all_windows(mentions: list[Mention]) -> dict[int, set[datetime]]:
    out: dict[int, set[datetime]] = {}
    for m in mentions:
        out.setdefault(m.brand_id, set()).add(window_of(m.created_at, SETTINGS.window))
    return out


def test_quiet_streams_raise_no_alarm() -> None:
    for seed in range(5):
        rng = random.Random(seed)
        stream = steady(rng, hours=24 * 4, per_hour=20) + steady(rng, 24 * 4, 4, brand=2)
        assert detect(stream, all_windows(stream), SETTINGS) == [], seed


def test_a_negative_burst_alerts_once_in_its_first_window() -> None:
    rng = random.Random(1)
    stream = steady(rng, hours=48, per_hour=20)
    burst_at = START + timedelta(hours=30, minutes=2)
    burst = [Mention(1, burst_at + timedelta(seconds=40 * i), True, 10_000 + i) for i in range(60)]
    spikes = detect(stream + burst, all_windows(stream + burst), SETTINGS)
    negative = [s for s in spikes if s.kind == "negative"]
    assert len(negative) == 1  # the cooldown folds the burst's later windows into one alert
    spike = negative[0]
    assert spike.window_start == window_of(burst_at, SETTINGS.window)
    assert spike.observed >= 20 and spike.ratio >= 3 and spike.surprise >= 5
    assert set(spike.post_ids) >= {10_000, 10_001}


def test_an_early_partial_window_already_alerts() -> None:
    """Re-examined as posts arrive, a window alerts once enough of the burst is in."""
    rng = random.Random(2)
    stream = steady(rng, hours=30, per_hour=20)
    burst_at = START + timedelta(hours=30)
    first_minutes = [
        Mention(1, burst_at + timedelta(seconds=20 * i), True, 20_000 + i) for i in range(15)
    ]
    candidates = {1: {window_of(burst_at, SETTINGS.window)}}
    assert detect(stream + first_minutes, candidates, SETTINGS)


def test_cooldown_and_previous_alerts() -> None:
    rng = random.Random(3)
    stream = steady(rng, hours=30, per_hour=20)
    burst_at = START + timedelta(hours=29)
    burst = [Mention(1, burst_at + timedelta(seconds=20 * i), True, 30_000 + i) for i in range(40)]
    start = window_of(burst_at, SETTINGS.window)
    previous = {(1, "negative"): [start - timedelta(minutes=30)], (1, "volume"): [start]}
    assert detect(stream + burst, {1: {start}}, SETTINGS, previous) == []


def test_seasonality_absorbs_a_daily_peak() -> None:
    """A lunchtime rush every day is the baseline for lunchtime, not a spike."""
    rng = random.Random(4)
    stream = steady(rng, hours=24 * 4, per_hour=6)
    pid = 50_000
    for day in range(4):
        noon = START + timedelta(days=day, hours=12)
        for i in range(14):
            pid += 1
            stream.append(Mention(1, noon + timedelta(seconds=60 * i), False, pid))
    last_noon = window_of(START + timedelta(days=3, hours=12), SETTINGS.window)
    assert [s for s in detect(stream, {1: {last_noon}}, SETTINGS) if s.kind == "volume"] == []


def test_poisson_surprise() -> None:
    assert poisson_surprise(0, 1.0) == 0.0
    assert poisson_surprise(1, 1.0) < 0.3
    assert poisson_surprise(20, 1.0) > 15
    assert poisson_surprise(5, 5.0) < 1
