"""A brand's public service page: whether it is published, and the preferred contact.

Revision ID: public_page
Revises: audit_events
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "public_page"
down_revision: str | None = "audit_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("engagement_settings") as batch:
        batch.add_column(
            sa.Column("public_page", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("preferred_contact", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("engagement_settings") as batch:
        batch.drop_column("preferred_contact")
        batch.drop_column("public_page")
