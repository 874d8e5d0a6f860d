"""`earful retention set|clear|show|run`: how long each brand keeps its conversations."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from earful.cli.context import brand_or_exit, console, engine_or_exit, refused
from earful.customers import retention
from earful.db import transaction
from earful.models import Brand, RetentionPolicy
from earful.models.base import utcnow

app = typer.Typer(no_args_is_help=True)


@app.command("set")
def set_cmd(
    brand: str,
    days: Annotated[int, typer.Option(help="Keep conversations quiet for at most this many days.")],
    mode: Annotated[str, typer.Option(help="delete, or anonymise (keep counts, drop words).")] = (
        "delete"
    ),
) -> None:
    """Set a brand's retention window."""
    engine = engine_or_exit()
    with refused(), transaction(engine) as session:
        retention.set_policy(session, None, brand_or_exit(session, brand, 2), mode, days)
    console.print(f"{brand}: conversations quiet for over {days} days are {mode}d")


@app.command("clear")
def clear_cmd(brand: str) -> None:
    """Keep a brand's conversations for good."""
    engine = engine_or_exit()
    with refused(), transaction(engine) as session:
        retention.clear_policy(session, None, brand_or_exit(session, brand, 2))
    console.print(f"{brand}: kept for good")


@app.command("show")
def show_cmd() -> None:
    """Every brand's retention window."""
    engine = engine_or_exit()
    table = Table("brand", "mode", "days", "last run")
    with transaction(engine) as session:
        rows = session.execute(
            select(Brand.slug, RetentionPolicy)
            .outerjoin(RetentionPolicy, RetentionPolicy.brand_id == Brand.id)
            .order_by(Brand.slug)
        )
        for slug, policy in rows:
            if policy is None:
                table.add_row(slug, "keep", "-", "-")
            else:
                last = (
                    policy.last_run_at.isoformat(timespec="seconds")
                    if policy.last_run_at
                    else "never"
                )
                table.add_row(slug, policy.mode, str(policy.days), last)
    console.print(table)


@app.command("run")
def run_cmd() -> None:
    """Apply every brand's retention window now (`earful run` does it every hour)."""
    engine = engine_or_exit()
    with transaction(engine) as session:
        results = retention.run_due(session, utcnow(), force=True)
    for r in results:
        console.print(
            f"{r.brand}: {r.mode} {r.conversations} conversations, {r.posts} posts, "
            f"{r.identities} accounts left with nothing"
        )
    if not results:
        console.print("no brand has a retention window (earful retention set BRAND --days N)")
