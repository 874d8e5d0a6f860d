"""Conversations of a brand by when they were first heard: the ETA counts a day's
arrivals per priority on every public page and acknowledgement round.

Revision ID: conversations_by_first_post
Revises: second_tier
"""

from collections.abc import Sequence

from alembic import op

revision: str = "conversations_by_first_post"
down_revision: str | None = "second_tier"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_conversations_brand_first_post", "conversations", ["brand_id", "first_post_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_brand_first_post", table_name="conversations")
