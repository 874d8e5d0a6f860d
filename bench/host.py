"""How fast the host itself ran: a fixed reference workload timed around every suite.

The development box's speed drifts by 30–45 % within minutes with nothing else running
(a shared virtual machine), which moves every absolute figure while ratios to a same-run
baseline keep still. `bench/run.py` therefore times this workload before the first suite
and after every suite, and reports it as the ``host`` suite: the median speed of the run
(spread = the host's drift within the run) and the speed around each suite (the mean of
the probes before and after it; spread = how much it changed while the suite ran).
`bench/compare.py` prints how much the host's speed changed between two runs.

The workload is deterministic (seeded) and touches what the suites do: a pure-Python loop
over ints, strings and a dict, then an in-memory SQLite table filled with ``executemany``
and queried through an index. It does no I/O; at default size a probe takes ~0.3 s.
"""

from __future__ import annotations

import gc
import random
import sqlite3
import statistics
import time
from dataclasses import dataclass, field

from bench.harness import Figure, Size, spread

SUITE = "host"
REFERENCE = "reference workload (Python loop + in-memory SQLite), median of all probes"
UNIT = "ops/s"
SEED = 20261123
PY_ITERATIONS = 2_000  # per op: the pure-Python part
ROWS = 200  # per op: rows inserted into SQLite, then one indexed aggregate
CHUNKS = 3  # a probe is timed in chunks and keeps their median: one hiccup is not drift
OPS = {"quick": 27, "default": 270, "large": 270}  # per probe; an op takes ~1.1 ms here


def workload(ops: int, seed: int = SEED) -> int:
    """Run ``ops`` operations; returns a checksum (the same for the same ops and seed)."""
    rng = random.Random(seed)
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, g INTEGER NOT NULL, s TEXT)")
        conn.execute("CREATE INDEX t_g ON t (g)")
        check = 0
        for op in range(ops):
            counts: dict[str, int] = {}
            for _ in range(PY_ITERATIONS):
                x = rng.getrandbits(30)
                key = f"k{x % 997}"
                counts[key] = counts.get(key, 0) + (x & 0xFF)
            check = (check * 31 + sum(counts.values())) % 1_000_000_007
            conn.execute("DELETE FROM t")
            conn.executemany(
                "INSERT INTO t (k, g, s) VALUES (?, ?, ?)",
                [(i, rng.randrange(100), f"row {op} {i}") for i in range(ROWS)],
            )
            count, total = conn.execute(
                "SELECT count(*), coalesce(sum(k), 0) FROM t WHERE g = ?", (op % 100,)
            ).fetchone()
            check = (check * 31 + count * 7 + total) % 1_000_000_007
        return check
    finally:
        conn.close()


def probe(size: Size) -> float:
    """The host's speed now, in reference ops per second."""
    per_chunk = max(1, OPS[size] // CHUNKS)
    gc.collect()
    times = []
    for _ in range(CHUNKS):
        t0 = time.perf_counter()
        workload(per_chunk)
        times.append(time.perf_counter() - t0)
    return per_chunk / statistics.median(times)


@dataclass(slots=True)
class HostSpeed:
    """The probes of one `bench/run.py` run: one before the first suite, one after each."""

    size: Size
    suites: list[str] = field(default_factory=list)
    samples: list[float] = field(default_factory=list)  # len(suites) + 1 once complete

    def start(self) -> None:
        self.samples.append(probe(self.size))

    def after(self, suite: str) -> None:
        self.suites.append(suite)
        self.samples.append(probe(self.size))

    def figures(self) -> list[Figure]:
        if not self.samples:
            return []
        figures = [
            Figure(
                suite=SUITE,
                name=REFERENCE,
                value=statistics.median(self.samples),
                unit=UNIT,
                n=len(self.samples),  # probes
                spread=spread(self.samples),
            )
        ]
        for i, suite in enumerate(self.suites):
            before, after = self.samples[i], self.samples[i + 1]
            mean = (before + after) / 2
            figures.append(
                Figure(
                    suite=SUITE,
                    name=around(suite),
                    value=mean,
                    unit=UNIT,
                    n=2,
                    spread=abs(after - before) / mean if mean else 0.0,
                )
            )
        return figures


def around(suite: str) -> str:
    """Name of the figure for the host's speed while ``suite`` ran."""
    return f"reference workload around {suite} (mean of the probes before and after it)"
