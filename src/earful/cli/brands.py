"""`earful brands ...`"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress
from rich.table import Table

from earful.auth.service import audit
from earful.brands import repository
from earful.brands.service import BrandError, create_brand
from earful.cli.context import console, engine_or_exit, err_console
from earful.cli.service_levels import holidays_app, sla_app
from earful.conversations import export as conversation_export
from earful.db import transaction
from earful.migrate import upgrade

app = typer.Typer(no_args_is_help=True)


@app.command("add")
def add(
    slug: str,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    keyword: Annotated[list[str] | None, typer.Option(help="Keyword to listen for.")] = None,
    handle: Annotated[
        list[str] | None, typer.Option(help="The brand's own account, NETWORK:HANDLE.")
    ] = None,
) -> None:
    handles: dict[str, list[str]] = {}
    for item in handle or []:
        network, sep, name_ = item.partition(":")
        if not sep or not name_:
            err_console.print(f"[red]error:[/red] --handle {item!r}: expected NETWORK:HANDLE")
            raise typer.Exit(2)
        handles.setdefault(network, []).append(name_)
    engine = engine_or_exit()
    upgrade(engine)
    try:
        with transaction(engine) as session:
            brand = create_brand(session, slug, name, keyword, handles)
            console.print(f"brand {brand.slug} created (id {brand.id})")
    except BrandError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


@app.command("list")
def list_() -> None:
    engine = engine_or_exit()
    with transaction(engine) as session:
        table = Table("slug", "name", "keywords", "handles")
        for b in repository.all_brands(session):
            table.add_row(b.slug, b.name, ", ".join(b.keywords), str(b.handles))
    console.print(table)


app.add_typer(holidays_app, name="holidays")
app.add_typer(sla_app, name="sla")


@app.command("export")
def export_cmd(
    slug: str,
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    output: Annotated[Path | None, typer.Option("-o", help="File (default: stdout).")] = None,
) -> None:
    """A brand's conversations with their posts, streamed as JSON Lines or CSV."""
    if fmt not in conversation_export.FORMATS:
        err_console.print(f"[red]error:[/red] --format must be jsonl or csv, not {fmt!r}")
        raise typer.Exit(2)
    engine = engine_or_exit()
    with transaction(engine) as session:
        brand = repository.by_slug(session, slug)
        if brand is None:
            err_console.print(f"[red]error:[/red] no brand {slug!r}")
            raise typer.Exit(2)
        brand_id = brand.id
        audit(session, None, "brand.export", brand_id=brand_id, target=f"brand:{slug}",
              format=fmt)  # fmt: skip
    sink = output.open("wb") if output else sys.stdout.buffer
    written = 0
    try:
        with engine.connect() as conn, Progress(console=err_console, transient=True) as bar:
            task = bar.add_task(
                f"exporting {slug}", total=conversation_export.count(conn, brand_id)
            )

            def counted() -> Iterator[dict[str, Any]]:
                nonlocal written
                for conv in conversation_export.conversations(conn, brand_id):
                    yield conv
                    written += 1
                    bar.advance(task)

            for chunk in conversation_export.encode(counted(), fmt):
                sink.write(chunk)
    finally:
        if output:
            sink.close()
        else:
            sink.flush()
    err_console.print(f"exported {written} conversations of {slug} as {fmt}")
