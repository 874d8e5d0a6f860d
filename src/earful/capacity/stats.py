"""Percentiles, as the capacity planner and the benchmark suites take them."""

from __future__ import annotations

import math


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100), interpolated linearly between the closest ranks (as
    numpy's default does): the 95th of 300 samples lies between the 285th and 286th."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo = math.floor(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)
