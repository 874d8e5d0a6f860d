"""`earful bench-compare A.json B.json`: two benchmark runs side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from earful.benchmarks.compare import BenchFileError, compare, load
from earful.cli.context import console, err_console


def bench_compare(
    first: Annotated[Path, typer.Argument(help="`earful bench --json` output of one run.")],
    second: Annotated[Path, typer.Argument(help="The same suites' output of another run.")],
    tolerance: Annotated[
        float, typer.Option(help="Largest relative change that counts as the same.", min=0)
    ] = 0.10,
) -> None:
    """Exit 1 when a figure moved by more than the tolerance or is missing from a run."""
    try:
        diffs, only = compare(load(first), load(second))
    except (OSError, BenchFileError) as exc:
        err_console.print(f"[red]error:[/red] {exc}", soft_wrap=True)  # paths stay whole
        raise typer.Exit(2) from None
    table = Table(title=f"{first.name} → {second.name} (tolerance {tolerance:.0%})")
    for col in ("suite", "figure", "first", "second", "change", "spreads", "verdict"):
        table.add_column(col)
    for d in diffs:
        spreads = "/".join(
            f"{s:.0%}" if s is not None else "-" for s in (d.first_spread, d.second_spread)
        )
        table.add_row(
            d.suite,
            d.name,
            f"{d.first:,.4g} {d.unit}",
            f"{d.second:,.4g}",
            f"{d.change:+.1%}",
            spreads,
            "[green]same[/green]" if d.within(tolerance) else "[red]moved[/red]",
        )
    console.print(table, width=max(console.width, 160))
    for suite, name in only:
        console.print(f"[yellow]only in one run:[/yellow] {suite}: {name}")
    moved = [d for d in diffs if not d.within(tolerance)]
    console.print(f"{len(diffs) - len(moved)} of {len(diffs)} figures within {tolerance:.0%}")
    if moved or only:
        raise typer.Exit(1)
