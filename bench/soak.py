"""`bench/run.py soak`: the load run held for minutes at a constant rate; memory sampled.

The same three processes as :mod:`bench.load` (server, paced ingest, simulated
agents), by default 10 minutes. The resident memory of the server and of the ingest is
sampled every few seconds; memory is *bounded* when the second half of the run adds less
than 10% to what the process held at half time (caches fill early; a leak keeps growing).
Also reported: the ingest's lag over time (how far the last commit is behind the clock),
posts lost, request errors and page latency against the 1-agent baseline.
"""

from __future__ import annotations

import sys
from dataclasses import replace

from bench.harness import Figure, Size
from bench.load import (
    KINDS,
    Outcome,
    Sample,
    Spec,
    common_figures,
    cpu_figure,
    page_figures,
    pct,
    run_once,
    with_options,
)
from bench.load import (
    SIZES as LOAD_SIZES,
)

GROWTH_BOUND = 0.10

SIZES: dict[Size, Spec] = {
    "quick": replace(LOAD_SIZES["quick"], seconds=4, agents=2, preload=200, baseline_cycles=1),
    "default": Spec(agents=20, rate=1000, seconds=600, sample_s=5.0),
    "large": Spec(agents=20, rate=1000, seconds=3600, sample_s=10.0),
}


def slope_mb_per_min(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB), in MB per minute."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    if not var:
        return 0.0
    return 60 * sum((t - mt) * (v - mv) for t, v in points) / var


def memory_figure(who: str, samples: list[Sample], high_water: float, judge: bool) -> Figure:
    values = [(s.t, s.server_mb if who == "server" else s.ingest_mb) for s in samples]
    values = [(t, v) for t, v in values if v > 0]
    if not values:
        values = [(0.0, 0.0)]
    start, end = values[0][1], values[-1][1]
    half = min(values, key=lambda p: abs(p[0] - values[-1][0] / 2))[1]
    second_half = [p for p in values if p[0] >= values[-1][0] / 2]
    growth = (end - half) / half if half else 0.0
    return Figure(
        suite="soak",
        name=(
            f"{who} RSS peak sampled (start {start:,.0f}, half time {half:,.0f}, "
            f"end {end:,.0f} MB; "
            f"second half {slope_mb_per_min(second_half):+,.1f} MB/min; "
            f"high-water mark {high_water:,.0f} MB)"
        ),
        value=max(v for _, v in values),
        unit="MB",
        target=f"bounded: second half adds < {GROWTH_BOUND:.0%}",
        n=len(values),
        higher_is_better=False,
        peak_rss_mb=high_water,
        passed=growth < GROWTH_BOUND if judge else None,
    )


def timeline(o: Outcome, every_s: float = 60.0) -> list[str]:
    """A line per ``every_s``: memory (the server's RSS, SQLite's share of it, malloc in
    use / free but held), progress, lag, and each page's p95 in that window."""
    stamps = o.load.stamps
    answers = [(stamps[i], stamps[i + 1], int(stamps[i + 2])) for i in range(0, len(stamps), 3)]
    lines, next_t, since = [], 0.0, 0.0
    for s in o.samples:
        if s.t >= next_t or s is o.samples[-1]:
            p95 = []
            for k, kind in enumerate(KINDS):
                window = [ms for t, ms, i in answers if since <= t < s.t and i == k]
                p95.append(f"{kind} {pct(window, 0.95):,.0f}" if window else f"{kind} -")
            sqlite_mb, in_use, held = s.server_native
            lines.append(
                f"t={s.t:4.0f}s server {s.server_mb:4,.0f} MB (SQLite {sqlite_mb:,.0f}, malloc "
                f"{in_use:,.0f} + free {held:,.0f}) ingest {s.ingest_mb:4,.0f} MB  "
                f"{s.processed:8,} posts lag {s.lag_s:4.2f} s  p95 ms: {', '.join(p95)}"
            )
            next_t, since = s.t + every_s, s.t
    return lines


def _say(msg: str) -> None:
    sys.stderr.write(f"[soak] {msg}\n")
    sys.stderr.flush()


def run(
    size: Size,
    database: str | None = None,
    agents: int | None = None,
    rate: float | None = None,
    minutes: float | None = None,
    think: float | None = None,
    all_brands: bool | None = None,
) -> list[Figure]:
    seconds = minutes * 60 if minutes else None
    spec = with_options(SIZES[size], agents, rate, seconds, think, all_brands)
    quick = size == "quick"
    o = run_once(spec, database, None if quick else _say)
    if not quick:
        for line in timeline(o):
            _say(line)
        for name, mb in o.disk_mb.items():
            _say(f"{name}: {mb:,.0f} MB on disk at the end")
    judge = not quick
    lags = [s.lag_s for s in o.samples]
    return [
        memory_figure("server", o.samples, o.server_peak_mb, judge),
        memory_figure("ingest", o.samples, float(o.ingest["rss_mb"][1]), judge),
        Figure(
            suite="soak",
            name=f"ingest lag, largest sample over {spec.seconds:,.0f} s (at end: below)",
            value=max(lags) if lags else 0.0,
            unit="s",
            n=len(lags),
            higher_is_better=False,
        ),
        *common_figures(o, "soak", judge),
        *[f for f in page_figures(o, "soak", judge) if f.name.startswith("all pages")],
        cpu_figure(o, "soak"),
    ]
