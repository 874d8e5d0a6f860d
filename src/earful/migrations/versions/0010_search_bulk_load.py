"""SQLite full-text index: let the batched ingest index its posts in one statement.

The per-row trigger costs ~15 µs a post (FTS5 flushes its pending terms per statement);
``INSERT INTO posts_fts SELECT ...`` over a whole batch costs ~3 µs. The ingest marks its
transaction with a row in ``posts_fts_bulk``; while that row exists the insert trigger
stands aside and the ingest indexes the batch itself before it commits. The row never
outlives the transaction, so every other writer (replies, tools, tests) still goes
through the trigger. PostgreSQL's GIN expression index needs nothing of this.

Revision ID: search_bulk_load
Revises: mention_counts
"""

from collections.abc import Sequence

from alembic import op

revision: str = "search_bulk_load"
down_revision: str | None = "mention_counts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PLAIN_TRIGGER = (
    "CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts BEGIN "
    "INSERT INTO posts_fts(rowid, text) VALUES (new.id, new.text); END"
)
GUARDED_TRIGGER = (
    "CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts "
    "WHEN NOT EXISTS (SELECT 1 FROM posts_fts_bulk) BEGIN "
    "INSERT INTO posts_fts(rowid, text) VALUES (new.id, new.text); END"
)


def upgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        return
    op.execute("CREATE TABLE posts_fts_bulk (holder INTEGER PRIMARY KEY)")
    op.execute("DROP TRIGGER IF EXISTS posts_fts_insert")
    op.execute(GUARDED_TRIGGER)


def downgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        return
    op.execute("DROP TRIGGER IF EXISTS posts_fts_insert")
    op.execute(PLAIN_TRIGGER)
    op.execute("DROP TABLE IF EXISTS posts_fts_bulk")
