"""`make bench`: every speed figure of the project, each beside its baseline.

    python bench/run.py [SUITE ...] [--quick|--large] [--json] [--database URL] [--redis URL]
    python bench/run.py load --agents 150 --rate 1000 --seconds 120 --think 5
    python bench/run.py soak --minutes 30 --rate 500 --agents 50

Run as a program (``python bench/run.py``, as ``make bench`` does, or ``python -m
bench.run``), it adds PostgreSQL: ``--database`` is ``EARFUL_BENCH_POSTGRES_URL``, or the
local test database, unless given. :data:`app` itself (the tests, ``bench/agents.py``) runs
on SQLite unless given one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

if not __package__:  # `python bench/run.py`: Python put bench/ on the path, not the root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import orjson
import typer
from rich.table import Table

from bench.harness import Figure, Size
from bench.host import SUITE as HOST_SUITE
from bench.host import HostSpeed
from bench.runner import ON_DEMAND, SUITES, available, run_suite
from earful.cli.context import console, err_console, print_wide

PG = os.environ.get(
    "EARFUL_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


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
        str | None,
        typer.Option(
            help="PostgreSQL URL: suites that compare backends add it; load, soak run on it."
        ),
    ] = None,
    redis: Annotated[str | None, typer.Option(help="Redis URL for the worker suites.")] = None,
    seconds: Annotated[float | None, typer.Option(help="load: seconds of load (60).")] = None,
    agents: Annotated[
        int | None, typer.Option(help="load, soak: simulated agents (200; soak 20).", min=1)
    ] = None,
    rate: Annotated[
        float | None,
        typer.Option(help="load, soak: posts/s offered to the ingest (1000).", min=1),
    ] = None,
    minutes: Annotated[
        float | None, typer.Option(help="soak: minutes at a constant rate (10).", min=0.05)
    ] = None,
    think: Annotated[
        float | None,
        typer.Option(help="load, soak: an agent's mean think time between pages, s (5).", min=0),
    ] = None,
    all_brands: Annotated[
        bool,
        typer.Option(
            "--all-brands", help="load, soak: every agent works all three demo brands, not one."
        ),
    ] = False,
) -> None:
    """Run the benchmark suites (each figure beside its baseline); the default ones when
    none is named. The host's speed is probed before the first suite and after each."""
    size: Size = "quick" if quick else "large" if large else "default"
    names = suites or [n for n in available() if n not in ON_DEMAND]
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        err_console.print(
            f"[red]error:[/red] unknown suite(s) {', '.join(unknown)}; known: {', '.join(SUITES)}"
        )
        if "capacity" in unknown:
            err_console.print("capacity is a command of the product: `earful bench capacity`")
        raise typer.Exit(2)
    missing = [n for n in names if n not in available()]
    for name in missing:
        err_console.print(f"[yellow]skip:[/yellow] suite {name!r} is not built yet")
    failed = False
    host = HostSpeed(size)  # the host's speed before the first suite and after each
    to_run = [n for n in names if n not in missing]
    if to_run:
        host.start()
    for name in to_run:
        figures = run_suite(
            name,
            size,
            database=database,
            redis=redis,
            agents=agents,
            rate=rate,
            seconds=seconds,
            minutes=minutes,
            think=think,
            all_brands=all_brands or None,
        )
        host.after(name)
        failed |= _print(name, size, figures, as_json)
    _print(HOST_SUITE, size, host.figures(), as_json)
    if failed and not as_json:
        console.print("[yellow]some figures miss their targets[/yellow]")


def _print(suite: str, size: Size, figures: list[Figure], as_json: bool) -> bool:
    """One JSON object per figure, or a table; True when a figure misses its target."""
    if as_json:
        for fig in figures:
            sys.stdout.write(orjson.dumps(fig.as_json()).decode() + "\n")
        sys.stdout.flush()
        return any(fig.passed is False for fig in figures)
    if not figures:
        return False
    table = Table(title=f"{suite} ({size})")
    table.add_column("figure", overflow="fold")
    for col in ("value", "unit", "baseline", "ratio", "spread", "n", "peak RSS MB", "verdict"):
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
    print_wide(table, 160)
    return any(fig.passed is False for fig in figures)


app = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
app.command()(bench)

if __name__ == "__main__":  # the guard matters: suites start processes by spawning
    app(["--database", PG, *sys.argv[1:]], prog_name="bench/run.py")
