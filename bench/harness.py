"""Measuring a figure against its baseline, interleaved so machine drift hits both.

A suite is a module in :mod:`bench` with ``run(size) -> list[Figure]``;
``size`` is "quick" (tests: proves it runs), "default" or "large".
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from earful.capacity.stats import percentile as percentile  # shared with `earful bench capacity`

Size = Literal["quick", "default", "large"]
T = TypeVar("T")
# The hash seed of the processes :func:`isolated` starts. With a random one (Python's
# default), the old-over-new ratio of the inbox's page latencies moved by up to 14 % from
# one process to the next on the same data; with this one, by up to 6 %.
HASH_SEED = "0"


@dataclass(slots=True)
class Figure:
    suite: str
    name: str
    value: float
    unit: str
    baseline: float | None = None
    target: str | None = None  # human text, e.g. ">= 20000 posts/s and >= 10x baseline"
    n: int = 0  # items per repetition
    spread: float = 0.0  # (max - min) / median of the repetitions, as a fraction
    higher_is_better: bool = True
    peak_rss_mb: float | None = None
    passed: bool | None = None  # verdict against the target, when it can be judged
    # The ratio as the suite measured it, where value / baseline would be a noisier one:
    # the median of the ratios of each round (subject and baseline timed back to back),
    # when the figure was timed in rounds, rather than the ratio of two medians that may
    # come from rounds minutes apart on a host whose speed moves; or the ratio of the
    # medians of two latency figures judged on their p95 (one p95 is a few slow calls).
    paired_ratio: float | None = None

    @property
    def ratio(self) -> float | None:
        if self.paired_ratio is not None:
            return self.paired_ratio
        if not self.baseline:
            return None
        return self.value / self.baseline if self.higher_is_better else self.baseline / self.value

    def as_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["ratio"] = self.ratio
        return doc


def rss_mb(pid: int) -> tuple[float, float]:
    """(resident, peak resident) MB of a live process, from /proc; (0, 0) elsewhere."""
    values = {"VmRSS": 0.0, "VmHWM": 0.0}
    with suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in values:
                values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB.

    The kernel's peak of this process's own memory (``VmHWM``) where /proc has it, not
    ``getrusage``'s ``ru_maxrss``: a process started by ``spawn`` inherits in that the
    peak of the parent that forked it (it survives the exec), so a fresh child measuring
    the matcher's footprint reported the whole bench's peak instead.
    """
    peak = rss_mb(os.getpid())[1]
    return peak or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def isolated(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a fresh interpreter (spawned), with the fixed :data:`HASH_SEED`.

    For a figure that should not depend on what ran before it in the bench process (its
    heap, the earlier suites' garbage) nor on the random hash seed of one process, which
    lays out dicts and sets differently and so moves Python-heavy code against C-heavy
    code by several per cent. ``fn`` and its arguments and result must pickle.
    """
    before = os.environ.get("PYTHONHASHSEED")
    os.environ["PYTHONHASHSEED"] = HASH_SEED  # the child inherits the environment
    try:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            return pool.submit(fn, *args).result()
    finally:
        if before is None:
            del os.environ["PYTHONHASHSEED"]
        else:
            os.environ["PYTHONHASHSEED"] = before


def part(items: list[T], i: int, parts: int) -> list[T]:
    """The i-th of ``parts`` consecutive, near-equal slices of ``items``."""
    return items[len(items) * i // parts : len(items) * (i + 1) // parts]


def spread(values: list[float]) -> float:
    med = statistics.median(values)
    return (max(values) - min(values)) / med if med else 0.0


@dataclass(slots=True)
class Pair:
    """Medians and spreads of a subject and its baseline, in seconds per repetition, and
    the median over the rounds of baseline seconds ÷ subject seconds (0 without baseline)."""

    subject: float
    baseline: float
    subject_spread: float
    baseline_spread: float
    speedup: float = 0.0
    speedup_spread: float = 0.0  # of the rounds' ratios


def pair_of(s_times: list[float], b_times: list[float]) -> Pair:
    """The Pair of seconds per round of a subject and of its baseline (empty: none)."""
    ratios = [b / s for s, b in zip(s_times, b_times, strict=True)] if b_times else [0.0]
    return Pair(
        subject=statistics.median(s_times),
        baseline=statistics.median(b_times) if b_times else 0.0,
        subject_spread=spread(s_times),
        baseline_spread=spread(b_times) if b_times else 0.0,
        speedup=statistics.median(ratios),
        speedup_spread=spread(ratios),
    )


def interleaved(
    subject: Callable[[], object],
    baseline: Callable[[], object] | None,
    repeat: int = 5,
    warmup: int = 1,
    setup: Callable[[], object] | None = None,
    baseline_setup: Callable[[], object] | None = None,
) -> Pair:
    """Time subject and baseline alternately (A B A B ...) after warm-up; medians win.
    ``setup`` runs untimed before each call (``baseline_setup``, if given, before the
    baseline's)."""
    before_baseline = baseline_setup or setup
    for _ in range(warmup):
        if setup:
            setup()
        subject()
        if baseline:
            if before_baseline:
                before_baseline()
            baseline()
    s_times: list[float] = []
    b_times: list[float] = []
    for _ in range(repeat):
        for fn, prepare, sink in (
            (subject, setup, s_times),
            (baseline, before_baseline, b_times),
        ):
            if fn is None:
                continue
            if prepare:
                prepare()
            t0 = time.perf_counter()
            fn()
            sink.append(time.perf_counter() - t0)
    return pair_of(s_times, b_times)


def interleaved_chunks(
    subject: Callable[[int], object],
    baseline: Callable[[int], object],
    chunks: int,
    repeat: int = 5,
    warmup: int = 1,
) -> Pair:
    """Like :func:`interleaved`, for work that splits into ``chunks`` parts (``subject(i)``
    does the i-th part): a repetition times part 0 of the subject, part 0 of the baseline,
    part 1 of each, and so on, and sums each side. This host's speed changes within a
    second or two (it runs at full or about half speed, in stretches of 0.1 s to seconds),
    so a subject and a baseline of several seconds each, timed one after the other, can
    land in different stretches; parts of a fraction of a second sample the same ones."""
    for _ in range(warmup):
        subject(0)
        baseline(0)
    s_times: list[float] = []
    b_times: list[float] = []
    for _ in range(repeat):
        s_total = b_total = 0.0
        for i in range(chunks):
            t0 = time.perf_counter()
            subject(i)
            t1 = time.perf_counter()
            baseline(i)
            t2 = time.perf_counter()
            s_total += t1 - t0
            b_total += t2 - t1
        s_times.append(s_total)
        b_times.append(b_total)
    return pair_of(s_times, b_times)


def rate_figure(
    suite: str,
    name: str,
    pair: Pair,
    n: int,
    unit: str = "posts/s",
    target: str | None = None,
    passed: Callable[[float, float], bool] | None = None,
) -> Figure:
    """Throughput figure (items per second) from a timed pair of n items each."""
    value = n / pair.subject
    base = n / pair.baseline if pair.baseline else None
    return Figure(
        suite=suite,
        name=name,
        value=value,
        unit=unit,
        baseline=base,
        target=target,
        n=n,
        spread=pair.subject_spread,
        peak_rss_mb=peak_rss_mb(),
        passed=passed(value, base or 0.0) if passed else None,
        paired_ratio=pair.speedup or None,  # both sides time the same n items
    )
