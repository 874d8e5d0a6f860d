"""`earful demo`: a fresh demo database, the corpus replayed through the pipeline, served."""

from __future__ import annotations

from typing import Annotated

import typer

from earful.brands import repository as brand_repo
from earful.brands.service import create_brand
from earful.cli import ingest as ingest_cmd
from earful.cli.context import console, settings_or_exit
from earful.cli.serve import serve
from earful.db import make_engine, transaction
from earful.demo.generate import brands_config, write
from earful.listening.service import add_query
from earful.migrate import upgrade
from earful.web.demo_account import ensure_demo_admin


def demo(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    posts: Annotated[int, typer.Option(help="Size of the generated corpus.")] = 4000,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Load only.")] = False,
) -> None:
    settings = settings_or_exit()
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    with transaction(engine) as session:
        for cfg in brands_config():
            if brand_repo.by_slug(session, cfg["slug"]) is None:
                brand = create_brand(
                    session, cfg["slug"], cfg["name"], cfg["keywords"], cfg["handles"]
                )
                for name, query in cfg["queries"].items():
                    add_query(session, brand.id, name, query)
    corpus = settings.data_dir / "demo-corpus.jsonl"
    write(corpus, seed=7, posts=posts)
    console.print(f"demo corpus: {corpus}")
    ingest_cmd.ingest(corpus, fmt="jsonl", database=None)
    with transaction(engine) as session:
        email, password = ensure_demo_admin(session)
    console.print(f"demo login: [bold]{email}[/bold] / [bold]{password}[/bold]")
    if not no_serve:
        serve(host=host, port=port)
