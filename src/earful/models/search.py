"""Full-text search objects the migrations create outside the ORM's metadata.

SQLite keeps an FTS5 table (and its shadow tables) fed by triggers on ``posts``;
PostgreSQL keeps a GIN expression index. Schema comparison must skip them.
"""

from __future__ import annotations

from typing import Any

SQLITE_FTS_TABLE = "posts_fts"
POSTGRES_SEARCH_INDEX = "ix_posts_text_search"
# Simple text-search configuration: no stemming, works for every language the same way.
POSTGRES_TS_CONFIG = "simple"


def is_search_object(name: str | None) -> bool:
    if not name:
        return False
    return name == POSTGRES_SEARCH_INDEX or name.startswith(SQLITE_FTS_TABLE)


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Alembic ``include_object`` hook: leave the search objects to their migration."""
    return not (reflected and is_search_object(name))
