"""What every command needs: settings (validated at start) and an engine."""

from __future__ import annotations

import sys

from rich.console import Console, RenderableType
from sqlalchemy import Engine

from earful.config import ConfigError, Settings, load_settings
from earful.db import make_engine

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
