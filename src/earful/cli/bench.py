"""`earful bench`: every speed figure of the project, each beside its baseline."""

from __future__ import annotations

import sys
from typing import Annotated

import orjson
import typer
from rich.table import Table

from earful.benchmarks.harness import Figure, Size
from earful.benchmarks.runner import SUITES, available, run_suite
from earful.cli.context import console, err_console


def _verdict(fig: Figure) -> str:
    if fig.passed is None:
        return fig.target or ""
    mark = "[green]meets[/green]" if fig.passed else "[red]misses[/red]"
    return f"{mark} {fig.target or ''}"


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"


def bench(
    suites: Annotated[
        list[str] | None, typer.Argument(help=f"Suites: {', '.join(SUITES)}.")
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Tiny sizes: proves the suites run.")
    ] = False,
    large: Annotated[bool, typer.Option("--large", help="Large sizes.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per figure.")] = False,
    database: Annotated[
        str | None, typer.Option(help="PostgreSQL URL for the suites that compare backends.")
    ] = None,
    redis: Annotated[str | None, typer.Option(help="Redis URL for the worker suites.")] = None,
) -> None:
    size: Size = "quick" if quick else "large" if large else "default"
    names = suites or available()
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        err_console.print(
            f"[red]error:[/red] unknown suite(s) {', '.join(unknown)}; known: {', '.join(SUITES)}"
        )
        raise typer.Exit(2)
    missing = [n for n in names if n not in available()]
    for name in missing:
        err_console.print(f"[yellow]skip:[/yellow] suite {name!r} is not built yet")
    failed = False
    for name in [n for n in names if n not in missing]:
        figures = run_suite(name, size, database=database, redis=redis)
        if as_json:
            for fig in figures:
                sys.stdout.write(orjson.dumps(fig.as_json()).decode() + "\n")
            sys.stdout.flush()
            continue
        table = Table(title=f"{name} ({size})")
        for col in (
            "figure",
            "value",
            "unit",
            "baseline",
            "ratio",
            "spread",
            "n",
            "peak RSS MB",
            "verdict",
        ):
            table.add_column(col)
        for fig in figures:
            table.add_row(
                fig.name,
                _fmt(fig.value),
                fig.unit,
                _fmt(fig.baseline),
                f"{fig.ratio:.1f}x" if fig.ratio else "-",
                f"{fig.spread:.0%}",
                f"{fig.n:,}",
                _fmt(fig.peak_rss_mb),
                _verdict(fig),
            )
            failed |= fig.passed is False
        console.print(table, width=max(console.width, 160))
    if failed and not as_json:
        console.print("[yellow]some figures miss their targets[/yellow]")
