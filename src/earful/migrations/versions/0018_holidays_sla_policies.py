"""A brand's holidays and SLA targets per priority; sources can be paused and remember
their last event and last error; API tokens remember when they were last used.

Revision ID: holidays_sla_policies
Revises: private_posts
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "holidays_sla_policies"
down_revision: str | None = "private_posts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "holidays",
        sa.Column("brand_id", BigId, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("brand_id", "day"),
    )
    op.create_table(
        "sla_policies",
        sa.Column("brand_id", BigId, nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("target_minutes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["brand_id"], ["brands.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("brand_id", "priority"),
    )
    # Plain ALTER TABLE: a batch recreate of ``sources`` would cascade to its posts' links.
    op.add_column(
        "sources", sa.Column("paused", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("sources", sa.Column("last_event_at", sa.DateTime(timezone=True)))
    op.add_column("sources", sa.Column("last_error", sa.Text()))
    op.add_column("sources", sa.Column("last_error_at", sa.DateTime(timezone=True)))
    op.add_column("api_tokens", sa.Column("last_used_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("api_tokens", "last_used_at")
    for column in ("last_error_at", "last_error", "last_event_at", "paused"):
        op.drop_column("sources", column)
    op.drop_table("sla_policies")
    op.drop_table("holidays")
