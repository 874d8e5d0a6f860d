"""Failed sign-ins per account and per client address, for the progressive delay and lock.

Revision ID: sign_in_throttle
Revises: alert_acknowledged_by
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "sign_in_throttle"
down_revision: str | None = "alert_acknowledged_by"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_in_throttles",
        sa.Column("key", sa.String(length=400), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("sign_in_throttles")
