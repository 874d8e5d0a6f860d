"""Two `earful bench --json` runs side by side: did any figure move by more than the
tolerance? Used to check a machine is quiet enough to measure on (two consecutive runs
should agree within 10 %) and to compare versions.

What is judged. A figure measured beside a baseline in the same run is judged on its
*ratio* to that baseline, as the run wrote it (the median of its rounds' ratios where it
was timed in rounds, else value ÷ baseline, or baseline ÷ value where lower is better):
subject and baseline are interleaved, so a host that runs 30 % slower for a few minutes
slows both and the ratio keeps still while the raw value moves. Its value change is shown
beside it. A figure without a baseline of its own — none, or the figure itself, like
"1 worker (baseline: 1)" — is judged on its value. ``by="value"`` judges every figure on
its value (what a comparison of versions on one quiet machine wants).

The ``host`` suite (the reference workload timed around every suite, see
:mod:`earful.benchmarks.host`) measures the machine, not the project: it is not judged
and not listed as missing; :func:`host_change` reports how the host's speed changed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from earful.benchmarks.host import REFERENCE, around
from earful.benchmarks.host import SUITE as HOST_SUITE

Key = tuple[str, str]  # (suite, figure name)
By = Literal["ratio", "value"]


class BenchFileError(ValueError):
    """A results file that is not `earful bench --json` output; says where."""


def relative_change(first: float, second: float) -> float:
    """Change of ``second`` against ``first`` (0.05 = 5 % higher)."""
    if first == 0:
        return 0.0 if second == 0 else math.inf
    return (second - first) / abs(first)


def ratio_of(doc: dict[str, Any]) -> float | None:
    """The figure's ratio to its same-run baseline (higher is better): the ``ratio`` the run
    wrote (the median of its rounds' ratios, for figures timed in rounds), else value ÷
    baseline; None when it has no baseline of its own: none, zero, or equal to the value
    (the figure is its own baseline, e.g. the 1-worker throughput of the workers suite)."""
    value, baseline = doc.get("value"), doc.get("baseline")
    if not isinstance(value, int | float) or not isinstance(baseline, int | float):
        return None
    if not value or not baseline or math.isclose(value, baseline, rel_tol=1e-12):
        return None
    written = doc.get("ratio")
    if isinstance(written, int | float) and written > 0:
        return float(written)  # as the run computed it: per round, where it was timed so
    return value / baseline if doc.get("higher_is_better", True) else baseline / value


@dataclass(frozen=True, slots=True)
class Difference:
    suite: str
    name: str
    unit: str
    first: float
    second: float
    first_spread: float | None
    second_spread: float | None
    first_ratio: float | None = None
    second_ratio: float | None = None
    by: By = "value"  # the quantity the verdict is on

    @property
    def value_change(self) -> float:
        """Relative change of the second run's value against the first's."""
        return relative_change(self.first, self.second)

    @property
    def ratio_change(self) -> float | None:
        """Relative change of the ratio to the same-run baseline, when both runs have one."""
        if self.first_ratio is None or self.second_ratio is None:
            return None
        return relative_change(self.first_ratio, self.second_ratio)

    @property
    def change(self) -> float:
        """The change that is judged: of the ratio when ``by`` is "ratio", else of the value."""
        if self.by == "ratio" and self.ratio_change is not None:
            return self.ratio_change
        return self.value_change

    def within(self, tolerance: float) -> bool:
        return abs(self.change) <= tolerance

    def as_json(self, tolerance: float) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "name": self.name,
            "unit": self.unit,
            "judged_by": self.by,
            "change": _finite(self.change),
            "within": self.within(tolerance),
            "first": self.first,
            "second": self.second,
            "value_change": _finite(self.value_change),
            "first_ratio": self.first_ratio,
            "second_ratio": self.second_ratio,
            "ratio_change": None if self.ratio_change is None else _finite(self.ratio_change),
            "first_spread": self.first_spread,
            "second_spread": self.second_spread,
        }


def _finite(x: float) -> float | str:
    """JSON has no infinity: a change from zero is written as the string "inf"."""
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


@dataclass(frozen=True, slots=True)
class HostChange:
    """The reference workload's speed in both runs: the median of each run's probes, and
    the speed around each suite both runs ran."""

    unit: str
    first: float
    second: float
    first_spread: float | None  # the host's drift within each run
    second_spread: float | None
    suites: dict[str, tuple[float, float]]  # suite -> (first, second), in the first's order

    @property
    def change(self) -> float:
        return relative_change(self.first, self.second)

    def suite_changes(self) -> dict[str, float]:
        return {s: relative_change(a, b) for s, (a, b) in self.suites.items()}

    def as_json(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "first": self.first,
            "second": self.second,
            "change": _finite(self.change),
            "first_spread": self.first_spread,
            "second_spread": self.second_spread,
            "suites": {s: _finite(c) for s, c in self.suite_changes().items()},
        }


def load(path: Path) -> dict[Key, dict[str, Any]]:
    """Figures of one run by (suite, name); lines that are not figures (capacity steps
    without a value, blank lines) are skipped, malformed JSON is an error with its line."""
    figures: dict[Key, dict[str, Any]] = {}
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise BenchFileError(f"{path}:{number}: not JSON ({exc})") from None
        if not isinstance(doc, dict):
            raise BenchFileError(f"{path}:{number}: expected a JSON object")
        value = doc.get("value")
        if not isinstance(value, int | float) or "suite" not in doc or "name" not in doc:
            continue
        figures[(str(doc["suite"]), str(doc["name"]))] = doc
    return figures


def _spread(doc: dict[str, Any]) -> float | None:
    s = doc.get("spread")
    return float(s) if isinstance(s, int | float) else None


def compare(
    first: dict[Key, dict[str, Any]], second: dict[Key, dict[str, Any]], by: By = "ratio"
) -> tuple[list[Difference], list[Key]]:
    """Figures present in both runs (in the first run's order), and those in only one.
    Figures of the ``host`` suite are left out of both: see :func:`host_change`."""
    a = {k: v for k, v in first.items() if k[0] != HOST_SUITE}
    b = {k: v for k, v in second.items() if k[0] != HOST_SUITE}
    only = [k for k in a if k not in b] + [k for k in b if k not in a]
    diffs = []
    for k in (k for k in a if k in b):
        ra, rb = ratio_of(a[k]), ratio_of(b[k])
        diffs.append(
            Difference(
                suite=k[0],
                name=k[1],
                unit=str(a[k].get("unit", "")),
                first=float(a[k]["value"]),
                second=float(b[k]["value"]),
                first_spread=_spread(a[k]),
                second_spread=_spread(b[k]),
                first_ratio=ra,
                second_ratio=rb,
                by="ratio" if by == "ratio" and ra is not None and rb is not None else "value",
            )
        )
    return diffs, only


def host_change(
    first: dict[Key, dict[str, Any]], second: dict[Key, dict[str, Any]]
) -> HostChange | None:
    """How the host's speed changed between the runs, when both timed the reference
    workload; None when either run has no ``host`` suite (runs before the probe)."""
    fa, fb = first.get((HOST_SUITE, REFERENCE)), second.get((HOST_SUITE, REFERENCE))
    if fa is None or fb is None:
        return None
    suites = {}
    for suite in dict.fromkeys(k[0] for k in first if k[0] != HOST_SUITE):
        key = (HOST_SUITE, around(suite))
        if key in first and key in second:
            suites[suite] = (float(first[key]["value"]), float(second[key]["value"]))
    return HostChange(
        unit=str(fa.get("unit", "")),
        first=float(fa["value"]),
        second=float(fb["value"]),
        first_spread=_spread(fa),
        second_spread=_spread(fb),
        suites=suites,
    )
