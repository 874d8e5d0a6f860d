"""What every command needs: settings (validated at start), an engine, and one way to
say no (a red ``error:`` line and an exit status) when input is refused."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console, RenderableType
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from earful.brands import repository as brands_repo
from earful.config import ConfigError, Settings, load_settings
from earful.db import make_engine
from earful.errors import DomainError
from earful.models import Brand

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def print_wide(renderable: RenderableType, min_width: int) -> None:
    """Print at least ``min_width`` columns wide whatever the terminal (or ``COLUMNS``)
    says, so a wide table's cells are wrapped or scrolled, never cut to "…".

    ``console.print(width=...)`` cannot do it: Rich caps that width at the console's."""
    wide = Console(
        highlight=False, width=max(console.width, min_width), force_terminal=console.is_terminal
    )
    wide.print(renderable)


def settings_or_exit(database: str | None = None) -> Settings:
    try:
        overrides: dict[str, object] = {"database_url": database} if database else {}
        return load_settings(**overrides)
    except ConfigError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        sys.exit(2)


def engine_or_exit(database: str | None = None) -> Engine:
    return make_engine(settings_or_exit(database).resolved_database_url)


def fail(message: object, code: int = 1) -> typer.Exit:
    """Print why the command stops; the caller raises the returned exit."""
    err_console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


@contextmanager
def refused(code: int = 2) -> Iterator[None]:
    """A domain rule's refusal (bad value, unknown row) ends the command with ``code``."""
    try:
        yield
    except DomainError as exc:
        raise fail(exc, code) from None


def brand_or_exit(session: Session, slug: str, code: int = 1) -> Brand:
    brand = brands_repo.by_slug(session, slug)
    if brand is None:
        raise fail(f"no brand {slug!r}", code)
    return brand
