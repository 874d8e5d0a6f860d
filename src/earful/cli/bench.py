"""`earful bench`: every speed figure of the project, each beside its baseline."""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import Annotated

import orjson
import typer
from rich.table import Table

from earful.benchmarks.harness import Figure, Size
from earful.benchmarks.host import SUITE as HOST_SUITE
from earful.benchmarks.host import HostSpeed
from earful.benchmarks.runner import ON_DEMAND, SUITES, available, run_suite
from earful.capacity.planner import Capacity, Step, Window, plan
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
        float,
        typer.Option(help="capacity: then replay the sustainable rate this many seconds.", min=0),
    ] = 0.0,
    headroom: Annotated[
        float,
        typer.Option(
            help="capacity: a step holds only if the pipeline was busy at most this share of it.",
            min=0.05,
            max=1.0,
        ),
    ] = 0.8,
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
            headroom,
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
    headroom: float,
) -> None:
    """Runs the planner and prints each step as it ends (a hold of minutes prints a line per
    window meanwhile), then the rate to plan with and the bottleneck."""
    queries = min(queries, 50) if quick else queries
    printer: _JsonSteps | _StepTable
    if as_json:
        printer = _JsonSteps(bound_s, headroom)
    else:
        printer = _StepTable(bound_s, headroom)
        console.print(
            f"capacity: {queries:,} listening queries, {seconds:g} s steps, bound "
            f"{bound_s:g} s, headroom {headroom:.0%}" + (f", hold {hold:g} s" if hold else ""),
            soft_wrap=True,
        )
        printer.header()
    result = plan(
        queries=queries,
        seconds=seconds,
        start_rate=100 if quick else 250,
        max_rate=400 if quick else 64_000,
        bound_s=bound_s,
        database=database,
        hold_s=hold,
        headroom=headroom,
        on_step=printer.step,
        on_window=printer.window,
    )
    printer.summary(result)


class _JsonSteps:
    """`--json`: a line per step and per hold window as they happen, then a summary."""

    def __init__(self, bound_s: float, headroom: float) -> None:
        self.bound_s, self.headroom = bound_s, headroom

    def _write(self, doc: dict[str, object]) -> None:
        sys.stdout.write(orjson.dumps({"suite": "capacity", **doc}).decode() + "\n")
        sys.stdout.flush()

    def step(self, step: Step) -> None:
        doc = asdict(step)
        doc.pop("windows")
        self._write(
            {
                **doc,
                "bottleneck": step.bottleneck,
                "why": step.why(self.bound_s, self.headroom),
                "windows": len(step.windows),
            }
        )

    def window(self, rate: int, window: Window) -> None:
        self._write({"phase": "window", "rate": rate, **asdict(window)})

    def summary(self, result: Capacity) -> None:
        self._write(
            {
                "sustainable_rate": result.sustainable_rate,
                "step_rate": result.step_rate,
                "bottleneck": result.bottleneck,
                "queries": result.queries,
                "bound_s": result.bound_s,
                "headroom": result.headroom,
                "hold": None if result.hold is None else asdict(result.hold),
            }
        )


class _StepTable:
    """Human output: one aligned row per step as it ends, a row per hold window."""

    COLUMNS = "{:<7} {:>9} {:>9} {:>8} {:>8} {:>7} {:>6}  {:<8} {}"

    def __init__(self, bound_s: float, headroom: float) -> None:
        self.bound_s, self.headroom = bound_s, headroom

    def header(self) -> None:
        console.print(
            self.COLUMNS.format(
                "phase",
                "posts/s",
                "posts",
                "p50 ms",
                "p99 ms",
                "lag s",
                "busy",
                "verdict",
                "bottleneck",
            ),
            style="bold",
            highlight=False,
            soft_wrap=True,
        )

    def step(self, step: Step) -> None:
        share = step.stage_share.get(step.bottleneck, 0.0)
        verdict = "holds" if step.sustainable else "breaks"
        why = step.why(self.bound_s, self.headroom)
        line = self.COLUMNS.format(
            step.phase,
            f"{step.rate:,}",
            f"{step.posts:,}",
            f"{step.p50_ms:,.0f}",
            f"{step.p99_ms:,.0f}",
            f"{step.lag_s:.2f}",
            f"{step.busy:.0%}",
            verdict,
            f"{step.bottleneck} ({share:.0%})" + (f" — {why}" if why else ""),
        )
        console.print(
            line, style=None if step.sustainable else "red", highlight=False, soft_wrap=True
        )

    def window(self, rate: int, window: Window) -> None:
        console.print(
            f"  hold at {rate:,} posts/s: {window.end_s:7.1f} s, {window.posts:,} posts, "
            f"p99 {window.p99_ms:,.0f} ms, worst lag {window.lag_s:.2f} s",
            highlight=False,
            soft_wrap=True,
        )

    def summary(self, result: Capacity) -> None:
        if result.holds:
            for h in result.holds:
                verdict = "holds" if h.sustainable else "does NOT hold"
                console.print(
                    f"held {h.posts:,} posts at {h.rate:,} posts/s for {h.seconds:,.0f} s: "
                    f"p99 {h.p99_ms:,.0f} ms, worst lag {h.lag_s:.2f} s, lag trend "
                    f"{h.lag_growth_s:+.2f} s per run, busy {h.busy:.0%} — {verdict}",
                    highlight=False,
                    soft_wrap=True,
                )
        rate = result.sustainable_rate
        console.print(
            f"sustainable rate: [bold]{rate:,} posts/s[/bold]"
            + (f" (short steps held {result.step_rate:,})" if rate != result.step_rate else "")
            + f"; bottleneck: [bold]{result.bottleneck}[/bold]",
            soft_wrap=True,
        )
