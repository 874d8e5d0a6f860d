"""Agents' corrections of post labels (who, when, old → new).

Revision ID: label_corrections
Revises: private_posts
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "label_corrections"
down_revision: str | None = "holidays_sla_policies"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "label_corrections",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("post_id", BigId, sa.ForeignKey("posts.id", ondelete="CASCADE"), nullable=False),
        sa.Column(
            "brand_id", BigId, sa.ForeignKey("brands.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("user_id", BigId, sa.ForeignKey("users.id", ondelete="SET NULL")),
        sa.Column("field", sa.String(16), nullable=False),
        sa.Column("old_value", sa.String(16)),
        sa.Column("new_value", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_label_corrections_post", "label_corrections", ["post_id", "field"])
    op.create_index("ix_label_corrections_brand_id", "label_corrections", ["brand_id"])


def downgrade() -> None:
    op.drop_table("label_corrections")
