"""`earful demo`: the demo corpus replayed through the pipeline, dated from now, served."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from earful.cli import ingest as ingest_cmd
from earful.cli.context import console, err_console, settings_or_exit
from earful.cli.serve import serve
from earful.config import Settings, get_settings
from earful.db import make_engine
from earful.demo.generate import brands_config
from earful.demo.load import load_demo
from earful.migrate import upgrade
from earful.models.base import utcnow


def demo(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    posts: Annotated[int, typer.Option(help="Size of the generated corpus.")] = 4000,
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Load only.")] = False,
    fresh: Annotated[
        bool,
        typer.Option("--fresh", help="Start from an empty embedded database (deletes it)."),
    ] = False,
    fast_tier_only: Annotated[
        bool,
        typer.Option(
            "--fast-tier-only",
            help="Label with the fast tier alone: a quicker load, weaker labels.",
        ),
    ] = False,
) -> None:
    """The corpus is dated from the moment the demo starts: its newest posts are minutes
    old. Posts already stored keep the times of their first load (``--fresh``: reload).

    The demo shows the best labels the package ships: the second tier relabels the brand
    posts after each batch (and, once served, what comes in live), unless
    ``--fast-tier-only``."""
    from earful.understanding.tier2 import shipped_second_tier  # loads the models

    settings = settings_or_exit()
    if fresh:
        _delete_embedded_database(settings)
    tier = None if fast_tier_only else shipped_second_tier()
    if not fast_tier_only and tier is None:
        err_console.print("[yellow]the second tier is not installed: fast tier only[/yellow]")
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    corpus = settings.data_dir / "demo-corpus.jsonl"
    loaded = load_demo(
        engine, corpus, posts, utcnow(),
        lambda pipeline, replay: ingest_cmd.with_progress(pipeline, replay, corpus.name),
        second_tier=tier or False,
    )  # fmt: skip
    engine.dispose()
    if loaded.stored_before:
        console.print(
            f"the database already holds {loaded.stored_before:,} posts: they keep the times "
            "of their first load (`earful demo --fresh` starts over from now)"
        )
    console.print(f"demo corpus: {corpus}")
    ingest_cmd.print_summary(loaded.summary)
    email, password = loaded.email, loaded.password
    console.print(f"demo login: [bold]{email}[/bold] / [bold]{password}[/bold]")
    slugs = ", ".join(f"/s/{cfg['slug']}" for cfg in brands_config())
    console.print(f"public service pages (no login): {slugs}")
    console.print(f"labels: {'second tier ' + tier.version if tier else 'fast tier only'}")
    if not no_serve:
        if tier is not None:  # the served desk labels live posts as the demo's were
            os.environ["EARFUL_SECOND_TIER"] = "true"
            get_settings.cache_clear()
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
