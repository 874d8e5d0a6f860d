"""Who acknowledged a spike alert (with when, already kept in ``acknowledged_at``).

Revision ID: alert_acknowledged_by
Revises: search_bulk_load
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "alert_acknowledged_by"
down_revision: str | None = "search_bulk_load"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(
            sa.Column(
                "acknowledged_by",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                sa.ForeignKey("users.id", ondelete="SET NULL", name="fk_alerts_acknowledged_by"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("acknowledged_by")
