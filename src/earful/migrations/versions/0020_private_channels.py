"""Private channels in: private conversations, and suggested links between accounts.

Revision ID: private_channels
Revises: private_posts
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "private_channels"
down_revision: str | None = "label_corrections"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Plain ALTER TABLE: a batch recreate on SQLite would cascade deletes.
    op.add_column(
        "conversations",
        sa.Column("private", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "link_suggestions",
        sa.Column("id", BigId, primary_key=True),
        sa.Column(
            "brand_id", BigId, sa.ForeignKey("brands.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "identity_id",
            BigId,
            sa.ForeignKey("identities.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "other_id", BigId, sa.ForeignKey("identities.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("brand_id", "identity_id", "other_id"),
    )
    op.create_index("ix_link_suggestions_identity_id", "link_suggestions", ["identity_id"])
    op.create_index("ix_link_suggestions_other_id", "link_suggestions", ["other_id"])


def downgrade() -> None:
    op.drop_index("ix_link_suggestions_other_id", "link_suggestions")
    op.drop_index("ix_link_suggestions_identity_id", "link_suggestions")
    op.drop_table("link_suggestions")
    op.drop_column("conversations", "private")
