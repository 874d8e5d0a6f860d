"""Two `bench/run.py --json` runs side by side: did any figure move by more than the
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
:mod:`bench.host`) measures the machine, not the project: it is not judged
and not listed as missing; :func:`host_change` reports how the host's speed changed.

    python bench/compare.py A.json B.json [--tolerance 0.1] [--by ratio|value] [--json]

It exits 1 when a judged quantity moved by more than the tolerance or a figure is missing
from a run, 2 when a file cannot be read.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

if not __package__:  # `python bench/compare.py`: Python put bench/ on the path, not the root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import orjson
import typer
from rich.table import Table

from bench.host import REFERENCE, around
from bench.host import SUITE as HOST_SUITE
from earful.cli.context import console, err_console, print_wide

Key = tuple[str, str]  # (suite, figure name)
By = Literal["ratio", "value"]


class BenchFileError(ValueError):
    """A results file that is not `bench/run.py --json` output; says where."""


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


# The command line: `python bench/compare.py A.json B.json`.


class Basis(StrEnum):
    ratio = "ratio"
    value = "value"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:+.1%}"


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"


def _ratio(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}×" if x >= 100 else f"{x:.3g}×"


def _host_lines(host: HostChange) -> list[str]:
    """The host's change between the runs, for above the table."""
    drift = "/".join(
        f"{s:.0%}" if s is not None else "-" for s in (host.first_spread, host.second_spread)
    )
    lines = [
        f"host speed (reference workload): {_num(host.first)} → {_num(host.second)} "
        f"{host.unit} ([bold]{host.change:+.1%}[/bold]); drift within each run {drift}"
    ]
    if host.suites:
        around = ", ".join(f"{s} {c:+.0%}" for s, c in host.suite_changes().items())
        lines.append(f"host speed around each suite: {around}")
    return lines


def _table(diffs: list[Difference], title: str, tolerance: float) -> Table:
    table = Table(title=title)
    table.add_column("suite", no_wrap=True)
    table.add_column("figure", overflow="fold", min_width=24)
    for col in (
        "first",
        "second",
        "value Δ",
        "ratio to baseline",
        "ratio Δ",
        "judged",
        "spreads",
        "verdict",
    ):
        table.add_column(col, no_wrap=True)
    for d in diffs:
        spreads = "/".join(
            f"{s:.0%}" if s is not None else "-" for s in (d.first_spread, d.second_spread)
        )
        ratios = (
            f"{_ratio(d.first_ratio)} → {_ratio(d.second_ratio)}"
            if d.first_ratio is not None or d.second_ratio is not None
            else "-"
        )
        value_change, ratio_change = _pct(d.value_change), _pct(d.ratio_change)
        if d.by == "ratio":  # the judged change stands out
            ratio_change = f"[bold]{ratio_change}[/bold]"
        else:
            value_change = f"[bold]{value_change}[/bold]"
        table.add_row(
            d.suite,
            d.name,
            f"{_num(d.first)} {d.unit}",
            _num(d.second),
            value_change,
            ratios,
            ratio_change,
            d.by,
            spreads,
            "[green]same[/green]" if d.within(tolerance) else "[red]moved[/red]",
        )
    return table


def bench_compare(
    first: Annotated[Path, typer.Argument(help="`bench/run.py --json` output of one run.")],
    second: Annotated[Path, typer.Argument(help="The same suites' output of another run.")],
    tolerance: Annotated[
        float, typer.Option(help="Largest relative change that counts as the same.", min=0)
    ] = 0.10,
    by: Annotated[
        Basis,
        typer.Option(
            help="ratio: judge a figure with a same-run baseline on its ratio to it (host "
            "drift cancels out), the others on their value; value: judge every figure on "
            "its value."
        ),
    ] = Basis.ratio,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="One JSON object per figure, then a summary object."),
    ] = False,
) -> None:
    """Exit 1 when a judged quantity (see --by) moved by more than the tolerance or a figure
    is missing from a run; 2 when a file cannot be read."""
    basis: By = "ratio" if by is Basis.ratio else "value"
    try:
        a, b = load(first), load(second)
    except (OSError, BenchFileError) as exc:
        err_console.print(f"[red]error:[/red] {exc}", soft_wrap=True)  # paths stay whole
        raise typer.Exit(2) from None
    diffs, only = compare(a, b, by=basis)
    host = host_change(a, b)
    moved = [d for d in diffs if not d.within(tolerance)]
    by_ratio = sum(d.by == "ratio" for d in diffs)
    if as_json:
        for d in diffs:
            sys.stdout.write(orjson.dumps(d.as_json(tolerance)).decode() + "\n")
        summary = {
            "summary": True,
            "by": basis,
            "tolerance": tolerance,
            "figures": len(diffs),
            "within": len(diffs) - len(moved),
            "judged_by_ratio": by_ratio,
            "judged_by_value": len(diffs) - by_ratio,
            "moved": [[d.suite, d.name, d.by] for d in moved],
            "only_in_one_run": [list(k) for k in only],
            "passed": not moved and not only,
            "host": host.as_json() if host else None,
        }
        sys.stdout.write(orjson.dumps(summary).decode() + "\n")
        sys.stdout.flush()
    else:
        judged = (
            "ratio to the same-run baseline where there is one, else value"
            if basis == "ratio"
            else "value"
        )
        for line in _host_lines(host) if host else []:
            console.print(line, soft_wrap=True)
        title = f"{first.name} → {second.name} (tolerance {tolerance:.0%}, judged by {judged})"
        print_wide(_table(diffs, title, tolerance), 170)
        for suite, name in only:
            console.print(f"[yellow]only in one run:[/yellow] {suite}: {name}", soft_wrap=True)
        console.print(
            f"{len(diffs) - len(moved)} of {len(diffs)} figures within {tolerance:.0%} "
            f"({by_ratio} judged by ratio, {len(diffs) - by_ratio} by value)",
            soft_wrap=True,
        )
    if moved or only:
        raise typer.Exit(1)


app = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
app.command()(bench_compare)

if __name__ == "__main__":
    app(prog_name="bench/compare.py")
