"""`earful match explain` and `earful queries add/update/delete/list/test`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text
from sqlalchemy.orm import Session

from earful.brands import repository as brand_repo
from earful.cli.context import console, engine_or_exit, err_console
from earful.db import transaction
from earful.listening import QuerySyntaxError, explain, parse
from earful.listening import repository as query_repo
from earful.listening.explain import Explanation, text_post
from earful.listening.service import ListeningError, add_query, delete_query, update_query
from earful.migrate import upgrade
from earful.models import Brand, ListeningQuery

app = typer.Typer(no_args_is_help=True)
match_app = typer.Typer(no_args_is_help=True, help="Try listening queries on a text.")
queries_app = typer.Typer(no_args_is_help=True, help="Manage brands' listening queries.")
app.add_typer(match_app, name="match")
app.add_typer(queries_app, name="queries")

Lang = Annotated[str | None, typer.Option(help="The post's language, for lang: filters.")]
Network = Annotated[str | None, typer.Option(help="The post's network, for network:.")]
Author = Annotated[str | None, typer.Option(help="The post's author handle, for author:.")]


@match_app.command("explain")
def explain_cmd(
    text: Annotated[str, typer.Option("--text", help="The post text.")],
    query: Annotated[str | None, typer.Option("--query", help="Query text.")] = None,
    name: Annotated[str | None, typer.Option(help="A stored query's name instead.")] = None,
    brand: Annotated[str | None, typer.Option(help="Brand slug of the stored query.")] = None,
    lang: Lang = None,
    network: Network = None,
    author: Author = None,
) -> None:
    """Whether a query matches a text, and which of its terms hit where."""
    if (query is None) == (name is None):
        err_console.print("[red]error:[/red] give either --query or --name (with --brand)")
        raise typer.Exit(2)
    if query is None:
        query = _stored_query(brand, name)
    _print(query, text, lang, network, author)


@queries_app.command("add")
def add_cmd(
    brand: Annotated[str, typer.Argument(help="Brand slug.")],
    name: Annotated[str, typer.Argument(help="A name for the query, unique per brand.")],
    query: Annotated[str, typer.Argument(help="The query, e.g. 'skyward~ NOT pie'.")],
    disabled: Annotated[bool, typer.Option("--disabled", help="Save it switched off.")] = False,
) -> None:
    """Save a listening query (it is checked first; a bad one is refused)."""
    engine = engine_or_exit()
    upgrade(engine)
    try:
        with transaction(engine) as session:
            row = _brand(session, brand)
            saved = add_query(session, row.id, name, query, enabled=not disabled)
            console.print(f"query {saved.name!r} saved for {brand} (id {saved.id})")
    except ListeningError as exc:
        _explain_error(query, exc)
        raise typer.Exit(2) from None


@queries_app.command("update")
def update_cmd(
    brand: Annotated[str, typer.Argument(help="Brand slug.")],
    name: Annotated[str, typer.Argument(help="The query's name.")],
    query: Annotated[str | None, typer.Option("--query", help="New query text.")] = None,
    rename: Annotated[str | None, typer.Option(help="A new name.")] = None,
    enabled: Annotated[
        bool | None, typer.Option("--enable/--disable", help="Switch it on or off.")
    ] = None,
) -> None:
    """Change a stored query's text, name or switch (the matcher follows at once)."""
    engine = engine_or_exit()
    try:
        with transaction(engine) as session:
            row = _named(session, brand, name)
            saved = update_query(session, row.id, text=query, name=rename, enabled=enabled)
            state = "on" if saved.enabled else "off"
            console.print(f"query {saved.name!r} of {brand} saved ({state}): {saved.query}")
    except ListeningError as exc:
        _explain_error(query or "", exc)
        raise typer.Exit(2) from None


@queries_app.command("delete")
def delete_cmd(
    brand: Annotated[str, typer.Argument(help="Brand slug.")],
    name: Annotated[str, typer.Argument(help="The query's name.")],
) -> None:
    """Delete a stored query."""
    engine = engine_or_exit()
    with transaction(engine) as session:
        delete_query(session, _named(session, brand, name).id)
    console.print(f"query {name!r} of {brand} deleted")


@queries_app.command("list")
def list_cmd(
    brand: Annotated[str | None, typer.Option(help="Only this brand's queries.")] = None,
) -> None:
    """Every stored listening query."""
    engine = engine_or_exit()
    with transaction(engine) as session:
        ids = [_brand(session, brand).id] if brand else None
        slugs = {b.id: b.slug for b in brand_repo.all_brands(session)}
        table = Table("brand", "name", "on", "query")
        for q in query_repo.for_brands(session, ids):
            table.add_row(slugs.get(q.brand_id, "?"), q.name, "yes" if q.enabled else "no", q.query)
    console.print(table)


@queries_app.command("test")
def test_cmd(
    query: Annotated[str, typer.Argument(help="A query to check, or a stored query's name.")],
    text: Annotated[list[str] | None, typer.Option("--text", help="Texts to try.")] = None,
    brand: Annotated[str | None, typer.Option(help="Read QUERY as this brand's name.")] = None,
    lang: Lang = None,
    network: Network = None,
    author: Author = None,
) -> None:
    """Check a query's syntax and, with --text, try it on texts."""
    if brand:
        query = _stored_query(brand, query)
    try:
        parse(query)
    except QuerySyntaxError as exc:
        err_console.print(exc.pointer(query), markup=False)
        raise typer.Exit(2) from None
    console.print("query ok")
    for t in text or []:
        _print(query, t, lang, network, author)


def _print(
    query: str, text: str, lang: str | None, network: str | None, author: str | None
) -> None:
    post = text_post(text, language=lang, network=network, author_handle=author)
    try:
        result = explain(post, query)
    except QuerySyntaxError as exc:
        err_console.print(exc.pointer(query), markup=False)
        raise typer.Exit(2) from None
    console.print(_highlighted(text, result))
    console.print("[green]match[/green]" if result.matched else "[yellow]no match[/yellow]")
    for hit in result.hits:
        console.print(
            f"  {hit.term} (query column {hit.column}) at {hit.start}:{hit.end} {hit.text!r}",
            markup=False,
        )
    for check in result.filters:
        console.print(f"  {check.filter} (query column {check.column}): {check.passed}")


def _highlighted(text: str, result: Explanation) -> Text:
    out = Text(text)
    for hit in result.hits:
        out.stylize("bold reverse", hit.start, hit.end)
    return out


def _stored_query(brand: str | None, name: str | None) -> str:
    if not brand or not name:
        err_console.print("[red]error:[/red] a stored query needs --brand and its name")
        raise typer.Exit(2)
    engine = engine_or_exit()
    with transaction(engine) as session:
        row = query_repo.by_name(session, _brand(session, brand).id, name)
        if row is None:
            err_console.print(f"[red]error:[/red] {brand} has no query named {name!r}")
            raise typer.Exit(2)
        return row.query


def _named(session: Session, brand: str, name: str) -> ListeningQuery:
    row = query_repo.by_name(session, _brand(session, brand).id, name)
    if row is None:
        err_console.print(f"[red]error:[/red] {brand} has no query named {name!r}")
        raise typer.Exit(2)
    return row


def _brand(session: Session, slug: str) -> Brand:
    row = brand_repo.by_slug(session, slug)
    if row is None:
        err_console.print(f"[red]error:[/red] no brand {slug!r}")
        raise typer.Exit(2)
    return row


def _explain_error(query: str, exc: ListeningError) -> None:
    column = getattr(exc, "column", None)
    if column is not None:
        reason = getattr(exc, "reason", str(exc))
        err_console.print(f"{query}\n{' ' * (column - 1)}^ {reason}", markup=False)
    else:
        err_console.print(f"[red]error:[/red] {exc}")
