"""Two `earful bench --json` runs side by side: did any median move by more than the
tolerance? Used to check a machine is quiet enough to measure on (two consecutive runs
should agree within 10 %) and to compare versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

Key = tuple[str, str]  # (suite, figure name)


class BenchFileError(ValueError):
    """A results file that is not `earful bench --json` output; says where."""


@dataclass(frozen=True, slots=True)
class Difference:
    suite: str
    name: str
    unit: str
    first: float
    second: float
    first_spread: float | None
    second_spread: float | None

    @property
    def change(self) -> float:
        """Relative change of the second run against the first (0.05 = 5 % higher)."""
        if self.first == 0:
            return 0.0 if self.second == 0 else float("inf")
        return (self.second - self.first) / abs(self.first)

    def within(self, tolerance: float) -> bool:
        return abs(self.change) <= tolerance


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


def compare(
    first: dict[Key, dict[str, Any]], second: dict[Key, dict[str, Any]]
) -> tuple[list[Difference], list[Key]]:
    """Figures present in both runs (in the first run's order), and those in only one."""
    both = [k for k in first if k in second]
    only = [k for k in first if k not in second] + [k for k in second if k not in first]
    diffs = [
        Difference(
            suite=k[0],
            name=k[1],
            unit=str(first[k].get("unit", "")),
            first=float(first[k]["value"]),
            second=float(second[k]["value"]),
            first_spread=first[k].get("spread"),
            second_spread=second[k].get("spread"),
        )
        for k in both
    ]
    return diffs, only
