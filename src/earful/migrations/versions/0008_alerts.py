"""spike alerts

Revision ID: alerts
Revises: inbox_state_status
Create Date: 2026-11-23 14:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql, sqlite

revision: str = "alerts"
down_revision: str | None = "inbox_state_status"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("brand_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("observed", sa.Integer(), nullable=False),
        sa.Column("expected", sa.Float(), nullable=False),
        sa.Column("ratio", sa.Float(), nullable=False),
        sa.Column("surprise", sa.Float(), nullable=False),
        sa.Column(
            "post_ids",
            sa.JSON()
            .with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
            .with_variant(sqlite.JSON(), "sqlite"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_alerts_brand_id_brands"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint(
            "brand_id", "kind", "window_start", name=op.f("uq_alerts_brand_id_kind_window_start")
        ),
    )
    op.create_index(op.f("ix_alerts_brand_id"), "alerts", ["brand_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_alerts_brand_id"), table_name="alerts")
    op.drop_table("alerts")
