"""CSAT surveys and their per-brand setting; the brand's sign-on / sign-off posts.

Revision ID: csat_shift_posts
Revises: private_posts
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "csat_shift_posts"
down_revision: str | None = "notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "csat_settings",
        sa.Column("brand_id", BigId, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("valid_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name="fk_csat_settings_brand_id_brands",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", name="pk_csat_settings"),
    )
    op.create_table(
        "csat_surveys",
        sa.Column("id", BigId, nullable=False),
        sa.Column("brand_id", BigId, nullable=False),
        sa.Column("conversation_id", BigId, nullable=False),
        sa.Column("agent_id", BigId, nullable=True),
        sa.Column("network", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("job_id", BigId, nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name="fk_csat_surveys_brand_id_brands",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_csat_surveys_conversation_id_conversations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["users.id"],
            name="fk_csat_surveys_agent_id_users",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["outbound_jobs.id"],
            name="fk_csat_surveys_job_id_outbound_jobs",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_csat_surveys"),
        sa.UniqueConstraint("conversation_id", name="uq_csat_surveys_conversation_id"),
    )
    op.create_index("ix_csat_surveys_brand_answered", "csat_surveys", ["brand_id", "answered_at"])
    op.create_table(
        "shift_post_settings",
        sa.Column("brand_id", BigId, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("network", sa.String(length=32), nullable=False),
        sa.Column("sign_on", sa.Text(), nullable=True),
        sa.Column("sign_off", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"],
            ["brands.id"],
            name="fk_shift_post_settings_brand_id_brands",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("brand_id", name="pk_shift_post_settings"),
    )


def downgrade() -> None:
    op.drop_table("shift_post_settings")
    op.drop_index("ix_csat_surveys_brand_answered", table_name="csat_surveys")
    op.drop_table("csat_surveys")
    op.drop_table("csat_settings")
