"""Tombstones of erased customers' accounts and posts (hashed network ids).

Revision ID: erasures
Revises: conversation_subjects
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "erasures"
down_revision: str | None = "conversation_subjects"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("key", sa.String(length=64), primary_key=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("erasures")
