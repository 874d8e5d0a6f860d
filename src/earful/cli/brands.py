"""`earful brands ...`"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from earful.brands import repository
from earful.brands.service import BrandError, create_brand
from earful.cli.context import console, engine_or_exit, err_console
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
