"""Mention counts per brand, kind and window, kept up by the ingest for the spike detector.

Revision ID: mention_counts
Revises: alerts
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "mention_counts"
down_revision: str | None = "alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mention_counts",
        sa.Column("brand_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_mention_counts_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", "kind", "window_start", name=op.f("pk_mention_counts")),
    )


def downgrade() -> None:
    op.drop_table("mention_counts")
