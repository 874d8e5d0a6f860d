"""`earful bench`: every speed figure of the project, each beside its baseline."""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import Annotated

import orjson
import typer
from rich.table import Table

from earful.benchmarks.capacity import plan
from earful.benchmarks.harness import Figure, Size
from earful.benchmarks.host import SUITE as HOST_SUITE
from earful.benchmarks.host import HostSpeed
from earful.benchmarks.runner import ON_DEMAND, SUITES, available, run_suite
from earful.cli.context import console, err_console, print_wide


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
    queries: Annotated[int, typer.Option(help="capacity: listening queries.", min=0)] = 1000,
    seconds: Annotated[
        float | None,
        typer.Option(help="capacity: seconds per load step (10); load: seconds of load (60)."),
    ] = None,
    bound_ms: Annotated[
        float, typer.Option(help="capacity: p99 latency and lag bound, ms.", min=1)
    ] = 2000.0,
    hold: Annotated[
        float, typer.Option(help="capacity: then replay the sustainable rate this many seconds.")
    ] = 0.0,
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
    size: Size = "quick" if quick else "large" if large else "default"
    if suites == ["capacity"]:
        _capacity(
            queries,
            0.5 if quick else seconds or 10.0,
            bound_ms / 1000,
            database,
            quick,
            as_json,
            hold,
        )
        return
    names = suites or [n for n in available() if n not in ON_DEMAND]
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


def _capacity(
    queries: int,
    seconds: float,
    bound_s: float,
    database: str | None,
    quick: bool,
    as_json: bool,
    hold: float,
) -> None:
    result = plan(
        queries=min(queries, 50) if quick else queries,
        seconds=seconds,
        start_rate=100 if quick else 250,
        max_rate=400 if quick else 64_000,
        bound_s=bound_s,
        database=database,
        hold_s=hold,
    )
    if as_json:
        for step in result.steps:
            sys.stdout.write(orjson.dumps({"suite": "capacity", **asdict(step)}).decode() + "\n")
        sys.stdout.write(
            orjson.dumps(
                {
                    "suite": "capacity",
                    "sustainable_rate": result.sustainable_rate,
                    "bottleneck": result.bottleneck,
                    "queries": result.queries,
                    "bound_s": result.bound_s,
                    "hold": asdict(result.hold) if result.hold else None,
                }
            ).decode()
            + "\n"
        )
        return
    table = Table(title=f"capacity: {result.queries:,} listening queries, bound {bound_s:g} s")
    for col in ("offered posts/s", "posts", "p50 ms", "p99 ms", "lag s", "verdict", "bottleneck"):
        table.add_column(col)
    for step in result.steps:
        share = step.stage_share.get(step.bottleneck, 0.0)
        table.add_row(
            f"{step.rate:,}",
            f"{step.posts:,}",
            f"{step.p50_ms:,.0f}",
            f"{step.p99_ms:,.0f}",
            f"{step.lag_s:.2f}",
            "[green]holds[/green]" if step.sustainable else "[red]breaks[/red]",
            f"{step.bottleneck} ({share:.0%})",
        )
    print_wide(table, 120)
    console.print(
        f"sustainable rate: [bold]{result.sustainable_rate:,} posts/s[/bold]; "
        f"bottleneck: [bold]{result.bottleneck}[/bold]"
    )
    if result.hold:
        h = result.hold
        verdict = "holds" if h.sustainable else "does NOT hold"
        console.print(
            f"held {h.posts:,} posts at {h.rate:,} posts/s: p99 {h.p99_ms:,.0f} ms, "
            f"final lag {h.lag_s:.2f} s — {verdict}"
        )
