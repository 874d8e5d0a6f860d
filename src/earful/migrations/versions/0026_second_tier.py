"""Which tier labeled a post: the second tier's version, else the fast tier's labels.

Revision ID: second_tier
Revises: audit_append_only
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "second_tier"
down_revision: str | None = "audit_append_only"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ALTER TABLE, never a batch "copy and move": on SQLite that recreates ``posts``,
# and dropping the old table with foreign keys on cascades to ``conversation_posts``.


def upgrade() -> None:
    op.add_column("posts", sa.Column("tier2_version", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("posts", "tier2_version")
