"""Mark the brand's direct messages in a thread (sent on a DM handoff).

Revision ID: private_posts
Revises: erasures
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "private_posts"
down_revision: str | None = "erasures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE, never a batch "copy and move": on SQLite that recreates ``posts``,
# and dropping the old table with foreign keys on cascades to ``conversation_posts``.


def upgrade() -> None:
    op.add_column(
        "posts", sa.Column("private", sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    op.drop_column("posts", "private")
