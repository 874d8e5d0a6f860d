"""The spike detector: a pure function over counted mentions per brand and time window.

For each window examined, the expected count is a robust baseline: the largest of a
trimmed mean of the previous ``history`` windows, the median of the last two hours and the
median of the same hour-of-day window on previous days (seasonality), never below
``floor``; a brand with less than a day of history never alerts. The window spikes when its
count is at least ``min_count``, at least ``min_ratio`` times the baseline, and so unlikely
under a Poisson law with that mean that -log10(p) >= ``sensitivity``. A brand and kind that
alerted within ``cooldown`` stays quiet, so one incident raises one alert.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache

KINDS = ("negative", "volume")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SpikeSettings:
    window: timedelta = timedelta(minutes=15)
    history: int = 96  # windows in the rolling baseline (24 h of 15 min)
    seasonal_days: int = 3  # same hour-of-day windows on this many previous days
    sensitivity: float = 5.0  # -log10 of the Poisson tail probability
    min_count: int = 6
    min_ratio: float = 3.0
    floor: float = 0.5  # a quiet brand's baseline is at least this many per window
    cooldown: timedelta = timedelta(hours=2)
    max_posts: int = 200  # posts linked from one alert
    # Spans, in windows, examined ending at each window: a sharp burst shows in one window,
    # a slower one in the sum of a few (so it is caught early, and surely).
    spans: tuple[int, ...] = (1, 2, 4)
    min_history: int = 96  # windows of a brand's history needed before it can alert (1 day)


@dataclass(frozen=True, slots=True)
class Mention:
    brand_id: int
    created_at: datetime
    negative: bool
    post_id: int


@dataclass(frozen=True, slots=True)
class Spike:
    brand_id: int
    kind: str
    window_start: datetime
    window_end: datetime
    observed: int
    expected: float
    ratio: float
    surprise: float
    post_ids: list[int] = field(default_factory=list)


def window_of(when: datetime, window: timedelta) -> datetime:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return _window_start(int(when.timestamp() // window.total_seconds()), window)


@lru_cache(maxsize=4096)
def _window_start(step: int, window: timedelta) -> datetime:
    # A batch's posts fall in a handful of windows: build each datetime once.
    return EPOCH + step * window


def poisson_surprise(observed: int, expected: float) -> float:
    """-log10 P(X >= observed) for X ~ Poisson(expected), computed in log space."""
    if observed <= 0:
        return 0.0
    lam = max(expected, 1e-9)
    # Sum the tail terms k = observed .. observed + 200 (the tail beyond is negligible).
    log_terms = [
        k * math.log(lam) - lam - math.lgamma(k + 1) for k in range(observed, observed + 200)
    ]
    top = max(log_terms)
    log_tail = top + math.log(sum(math.exp(t - top) for t in log_terms))
    return max(0.0, -log_tail / math.log(10))


LOCAL = 8  # windows in the local level (2 h of 15 min)
MIN_SEASONAL_DAYS = 2


def baseline(recent: Sequence[int], seasonal: Sequence[int], floor: float) -> float:
    """The highest of: the trimmed mean of the history (top 10% dropped), the median of the
    last few windows (the level right now, e.g. daytime), and the same window's median on
    previous days (seasonality). ``recent`` is newest first."""
    expected = floor
    if recent:
        ordered = sorted(recent)
        kept = ordered[: max(1, len(ordered) - len(ordered) // 10)]
        expected = max(expected, sum(kept) / len(kept), float(statistics.median(recent[:LOCAL])))
    if seasonal:
        expected = max(expected, float(statistics.median(seasonal)))
    return expected


Counts = dict[tuple[int, str, datetime], int]  # (brand, kind, window start) -> mentions
PostIds = dict[tuple[int, str, datetime], list[int]]


def count_mentions(mentions: Iterable[Mention], window: timedelta) -> tuple[Counts, PostIds]:
    """Mentions per (brand, kind, window), and the posts behind each count."""
    counts: Counts = defaultdict(int)
    posts: PostIds = defaultdict(list)
    seen: set[tuple[int, int]] = set()
    for m in mentions:
        if (m.brand_id, m.post_id) in seen:
            continue  # overlapping look-back ranges may return a post twice
        seen.add((m.brand_id, m.post_id))
        start = window_of(m.created_at, window)
        for kind in KINDS:
            if kind == "negative" and not m.negative:
                continue
            key = (m.brand_id, kind, start)
            counts[key] += 1
            posts[key].append(m.post_id)
    return counts, posts


def first_windows(counts: Counts) -> dict[int, datetime]:
    first: dict[int, datetime] = {}
    for brand, _kind, start in counts:
        if brand not in first or start < first[brand]:
            first[brand] = start
    return first


def detect(
    mentions: Iterable[Mention],
    candidates: dict[int, set[datetime]],
    settings: SpikeSettings = SpikeSettings(),
    last_alerts: dict[tuple[int, str], list[datetime]] | None = None,
) -> list[Spike]:
    """Spikes among the candidate windows ({brand: {window start}}), oldest first.

    ``mentions`` must cover each candidate window, the ``history`` windows before it and
    (for seasonality) the same windows on the previous ``seasonal_days`` days.
    """
    counts, posts = count_mentions(mentions, settings.window)
    return detect_counts(counts, first_windows(counts), candidates, settings, last_alerts, posts)


def detect_counts(
    counts: Counts,
    first: dict[int, datetime],
    candidates: dict[int, set[datetime]],
    settings: SpikeSettings = SpikeSettings(),
    last_alerts: dict[tuple[int, str], list[datetime]] | None = None,
    posts: PostIds | None = None,
) -> list[Spike]:
    """:func:`detect` over counts already made; ``first`` is each brand's first window
    (windows before it are unknown, not zero). Spikes carry post ids only if ``posts``."""
    w = settings.window
    alerted = {k: list(v) for k, v in (last_alerts or {}).items()}
    out: list[Spike] = []
    for brand, starts in sorted(candidates.items()):
        known = first.get(brand)
        for end in sorted(starts):
            for kind in KINDS:
                for span in settings.spans:
                    start = end - (span - 1) * w
                    if known is None or start - settings.min_history * w < known:
                        continue
                    if any(
                        abs(start - t) < settings.cooldown for t in alerted.get((brand, kind), [])
                    ):
                        break
                    spike = _judge(counts, posts or {}, brand, kind, start, span, known, settings)
                    if spike is not None:
                        out.append(spike)
                        alerted.setdefault((brand, kind), []).append(start)
                        break
    return out


def _judge(
    counts: Counts,
    posts: PostIds,
    brand: int,
    kind: str,
    start: datetime,
    span: int,
    known: datetime,
    settings: SpikeSettings,
) -> Spike | None:
    """Whether ``span`` windows from ``start`` spike against the windows before them."""
    w = settings.window
    cells = (
        [(brand, kind, start)] if span == 1 else [(brand, kind, start + i * w) for i in range(span)]
    )
    observed = sum([counts.get(c, 0) for c in cells])
    if observed < settings.min_count:
        return None
    # The baseline is at least the local level (median of the last LOCAL windows): test
    # against that cheap lower bound first, since most windows of a busy brand stop here.
    local = [
        counts.get((brand, kind, start - i * w), 0)
        for i in range(1, min(LOCAL, settings.history) + 1)
        if start - i * w >= known
    ]
    if local:
        lower = span * max(settings.floor, float(statistics.median(local)))
        if observed < settings.min_ratio * lower:
            return None
    recent = [
        counts.get((brand, kind, start - i * w), 0)
        for i in range(1, settings.history + 1)
        if start - i * w >= known
    ]
    # The same span on previous days (seasonality by hour of day), once two days are known.
    seasonal = [
        sum(counts.get((brand, kind, day + i * w), 0) for i in range(span))
        for d in range(1, settings.seasonal_days + 1)
        if (day := start - timedelta(days=d)) >= known
    ]
    if len(seasonal) < MIN_SEASONAL_DAYS:
        seasonal = []
    expected = baseline([span * x for x in recent], seasonal, span * settings.floor)
    ratio = observed / expected
    if ratio < settings.min_ratio:
        return None  # the cheap test first: most windows stop here
    surprise = poisson_surprise(observed, expected)
    if surprise < settings.sensitivity:
        return None
    ids = sorted(p for c in cells for p in posts.get(c, []))[: settings.max_posts]
    return Spike(brand, kind, start, start + span * w, observed, expected, ratio, surprise, ids)


def lookback_ranges(
    starts: Iterable[datetime], settings: SpikeSettings
) -> list[tuple[datetime, datetime]]:
    """Time ranges whose mentions :func:`detect` needs for these candidate windows."""
    ordered = sorted(starts)
    if not ordered:
        return []
    w = settings.window
    reach = max(settings.spans) - 1
    ranges = [(ordered[0] - (settings.history + reach) * w, ordered[-1] + w)]
    for d in range(1, settings.seasonal_days + 1):
        shift = timedelta(days=d)
        ranges.append((ordered[0] - shift - reach * w, ordered[-1] + w - shift))
    return ranges
