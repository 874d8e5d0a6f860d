"""`earful bench capacity`: how many posts per second this box sustains, and what limits it.

The benchmark suites (every speed figure beside its baseline) are not part of the package:
``make bench`` runs them from the repository's ``bench/`` folder."""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import Annotated

import orjson
import typer

from earful.capacity.planner import Capacity, Step, Window, plan
from earful.cli.context import console

app = typer.Typer(no_args_is_help=True)


@app.callback()
def _bench() -> None:
    """Measure this box: `earful bench capacity`."""


@app.command()
def capacity(
    quick: Annotated[
        bool, typer.Option("--quick", help="Tiny sizes: proves the planner runs.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per step and per hold window.")
    ] = False,
    database: Annotated[
        str | None, typer.Option(help="PostgreSQL URL to run on (default: a SQLite file).")
    ] = None,
    queries: Annotated[int, typer.Option(help="Listening queries.", min=0)] = 1000,
    seconds: Annotated[float | None, typer.Option(help="Seconds per load step (10).")] = None,
    bound_ms: Annotated[float, typer.Option(help="p99 latency and lag bound, ms.", min=1)] = 2000.0,
    hold: Annotated[
        float,
        typer.Option(help="Then replay the sustainable rate this many seconds.", min=0),
    ] = 0.0,
    headroom: Annotated[
        float,
        typer.Option(
            help="A step holds only if the pipeline was busy at most this share of it.",
            min=0.05,
            max=1.0,
        ),
    ] = 0.8,
) -> None:
    """The posts/s this box sustains through the whole pipeline, and the stage that limits it."""
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
