"""`earful demo`: the demo corpus replayed through the pipeline, dated from now, served."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import func, select

from earful.brands import repository as brand_repo
from earful.brands.service import create_brand
from earful.cli import ingest as ingest_cmd
from earful.cli.context import console, err_console, settings_or_exit
from earful.cli.serve import serve
from earful.config import Settings
from earful.db import make_engine, transaction
from earful.demo.generate import brands_config, write
from earful.listening.service import add_query
from earful.migrate import upgrade
from earful.models import Post
from earful.models.base import utcnow
from earful.web.demo_account import ensure_demo_admin


def demo(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    posts: Annotated[int, typer.Option(help="Size of the generated corpus.")] = 4000,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Load only.")] = False,
    fresh: Annotated[
        bool,
        typer.Option("--fresh", help="Start from an empty embedded database (deletes it)."),
    ] = False,
) -> None:
    """The corpus is dated from the moment the demo starts: its newest posts are minutes
    old. Posts already stored keep the times of their first load (``--fresh``: reload)."""
    settings = settings_or_exit()
    if fresh:
        _delete_embedded_database(settings)
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    with transaction(engine) as session:
        stored = session.scalar(select(func.count()).select_from(Post)) or 0
        for cfg in brands_config():
            if brand_repo.by_slug(session, cfg["slug"]) is None:
                brand = create_brand(
                    session, cfg["slug"], cfg["name"], cfg["keywords"], cfg["handles"]
                )
                for name, query in cfg["queries"].items():
                    add_query(session, brand.id, name, query)
    if stored:
        console.print(
            f"the database already holds {stored:,} posts: they keep the times of their first "
            "load (`earful demo --fresh` starts over from now)"
        )
    corpus = settings.data_dir / "demo-corpus.jsonl"
    write(corpus, seed=7, posts=posts, anchor=utcnow(), team=True)
    console.print(f"demo corpus: {corpus}")
    ingest_cmd.ingest(corpus, fmt="jsonl", database=None)
    with transaction(engine) as session:
        email, password = ensure_demo_admin(session)
    engine.dispose()
    console.print(f"demo login: [bold]{email}[/bold] / [bold]{password}[/bold]")
    if not no_serve:
        serve(host=host, port=port)


def _delete_embedded_database(settings: Settings) -> None:
    """Remove the SQLite database under the data directory (never a configured URL)."""
    if settings.database_url:
        err_console.print(
            "[red]error:[/red] --fresh only deletes the embedded SQLite database; "
            "EARFUL_DATABASE_URL is set"
        )
        raise typer.Exit(2)
    path = Path(settings.resolved_database_url.split("///", 1)[1])
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
