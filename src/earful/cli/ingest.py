"""`earful init` and `earful ingest`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from earful.brands.service import ensure_brand
from earful.cli.context import console, engine_or_exit, err_console
from earful.connectors.base import Batch, ConnectorError
from earful.connectors.replay import FORMATS, FileReplay
from earful.db import transaction
from earful.migrate import upgrade
from earful.pipeline.runner import IngestSummary, Pipeline

DatabaseOpt = Annotated[
    str | None, typer.Option("--database", help="Database URL (default: EARFUL_DATABASE_URL).")
]


def init(database: DatabaseOpt = None) -> None:
    engine = engine_or_exit(database)
    upgrade(engine)
    console.print(f"database ready: {engine.url.render_as_string(hide_password=True)}")


def ingest(
    path: Annotated[Path, typer.Argument(help="File to replay.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="jsonl, twcs or jetstream.")] = "jsonl",
    brand: Annotated[
        str | None, typer.Option(help="Route every post of the file to this brand (slug).")
    ] = None,
    from_start: Annotated[
        bool, typer.Option("--from-start", help="Ignore the stored cursor and re-read it all.")
    ] = False,
    batch_size: Annotated[int, typer.Option(min=1, max=100_000)] = 2000,
    database: DatabaseOpt = None,
) -> None:
    if fmt not in FORMATS:
        err_console.print(f"[red]error:[/red] --format must be one of {', '.join(FORMATS)}")
        raise typer.Exit(2)
    engine = engine_or_exit(database)
    upgrade(engine)
    try:
        connector = FileReplay(path, fmt, batch_size)
    except ConnectorError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    brand_id = None
    if brand:
        with transaction(engine) as session:
            brand_id = ensure_brand(session, brand).id
    summary = with_progress(Pipeline(engine), connector, path.name, brand_id, from_start)
    print_summary(summary)


def with_progress(
    pipeline: Pipeline,
    connector: FileReplay,
    label: str,
    brand_id: int | None = None,
    from_start: bool = False,
) -> IngestSummary:
    """Replay a file through the pipeline with a progress bar on a terminal's stderr."""
    progress = Progress(
        TextColumn("[bold]ingest[/bold] {task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=not sys.stderr.isatty(),
    )
    with progress:
        task = progress.add_task(label, total=connector.total() or None)

        def advance(batch: Batch, _result: IngestSummary) -> None:
            progress.update(task, completed=batch.progress)

        return pipeline.ingest(connector, brand_id, from_start=from_start, on_batch=advance)


def print_summary(summary: IngestSummary) -> None:
    table = Table(title="ingest summary", show_header=False)
    table.add_row("records read", f"{summary.read:,}")
    table.add_row("ingested", f"{summary.ingested:,}")
    table.add_row("duplicates skipped", f"{summary.duplicates:,}")
    table.add_row("dead-lettered", f"{summary.dead_lettered:,}")
    table.add_row("not about any brand", f"{summary.unmatched:,}")
    table.add_row("not posts (skipped)", f"{summary.skipped:,}")
    table.add_row("new conversations", f"{summary.new_conversations:,}")
    console.print(table)
