"""Full-text search objects the migrations create outside the ORM's metadata.

SQLite keeps an FTS5 table (and its shadow tables) fed by triggers on ``posts`` (or, for
batches, by :func:`sqlite_bulk_indexing`);
PostgreSQL keeps a GIN expression index. Schema comparison must skip them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection

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


SQLITE_BULK_MARKER = "posts_fts_bulk"


@contextmanager
def sqlite_bulk_indexing(conn: Connection) -> Iterator[None]:
    """Inside the caller's transaction: posts inserted in the block are indexed by one
    ``INSERT ... SELECT`` at its end instead of row by row by the trigger (~5x cheaper).

    The marker row takes SQLite's write lock first, so ``max(id)`` read here bounds exactly
    the rows this block adds (rowids grow; a single writer at a time). The marker is gone
    before the transaction commits; if it rolls back instead, so does the marker.
    A no-op on other databases.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    conn.exec_driver_sql(f"INSERT INTO {SQLITE_BULK_MARKER} (holder) VALUES (1)")
    before = conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM posts").scalar_one()
    try:
        yield
    finally:  # even after an error: a caller that commits anyway must not lose the trigger
        conn.exec_driver_sql(
            f"INSERT INTO {SQLITE_FTS_TABLE} (rowid, text) SELECT id, text FROM posts WHERE id > ?",
            (before,),
        )
        conn.exec_driver_sql(f"DELETE FROM {SQLITE_BULK_MARKER}")
