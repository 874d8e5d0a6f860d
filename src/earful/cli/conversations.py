"""`earful conversations ...`"""

from __future__ import annotations

import sys
from typing import Annotated

import orjson
import typer

from earful.cli.context import engine_or_exit, err_console
from earful.conversations.repository import export_rows

app = typer.Typer(no_args_is_help=True)


@app.command("export")
def export(
    fmt: Annotated[str, typer.Option("--format", help="Only jsonl for now.")] = "jsonl",
    brand: Annotated[str | None, typer.Option(help="Only this brand (slug).")] = None,
) -> None:
    """One conversation a line, with its posts' external ids in time order."""
    if fmt != "jsonl":
        err_console.print("[red]error:[/red] --format must be jsonl")
        raise typer.Exit(2)
    engine = engine_or_exit()
    out = sys.stdout.buffer
    with engine.connect() as conn:
        for row in export_rows(conn, brand):
            out.write(orjson.dumps(row) + b"\n")
    out.flush()
