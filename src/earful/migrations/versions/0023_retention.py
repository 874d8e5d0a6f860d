"""Retention per brand, and erasures recorded before they start.

Revision ID: retention
Revises: private_posts
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "retention"
down_revision: str | None = "csat_shift_posts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "retention_policies",
        sa.Column("brand_id", BigId, nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name=op.f("fk_retention_policies_brand_id_brands"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", name=op.f("pk_retention_policies")),
    )
    op.create_table(
        "erasure_requests",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("identity_id", BigId, nullable=False),
        sa.Column("requested_by", sa.String(length=320), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_requests")),
    )


def downgrade() -> None:
    op.drop_table("erasure_requests")
    op.drop_table("retention_policies")
