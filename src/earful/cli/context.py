"""What every command needs: settings (validated at start) and an engine."""

from __future__ import annotations

import sys

from rich.console import Console
from sqlalchemy import Engine

from earful.config import ConfigError, Settings, load_settings
from earful.db import make_engine

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def settings_or_exit(database: str | None = None) -> Settings:
    try:
        overrides: dict[str, object] = {"database_url": database} if database else {}
        return load_settings(**overrides)
    except ConfigError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        sys.exit(2)


def engine_or_exit(database: str | None = None) -> Engine:
    return make_engine(settings_or_exit(database).resolved_database_url)
