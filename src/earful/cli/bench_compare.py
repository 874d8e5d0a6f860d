"""`earful bench-compare A.json B.json`: two benchmark runs side by side."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.table import Table

from earful.benchmarks.compare import (
    BenchFileError,
    By,
    Difference,
    HostChange,
    compare,
    host_change,
    load,
)
from earful.cli.context import console, err_console, print_wide


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
    first: Annotated[Path, typer.Argument(help="`earful bench --json` output of one run.")],
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
