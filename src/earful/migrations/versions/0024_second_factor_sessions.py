"""Server-side sessions, TOTP second factors, recovery codes, brands' sign-in policies.

Revision ID: second_factor_sessions
Revises: private_posts
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "second_factor_sessions"
down_revision: str | None = "retention"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "user_sessions",
        sa.Column("id", ID, primary_key=True),
        sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("last_seen_at", WHEN, nullable=False),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column("method", sa.String(length=16), nullable=False),
    )
    op.create_index("ix_user_sessions_user_id", "user_sessions", ["user_id"])
    op.create_table(
        "totp_credentials",
        sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("secret_sealed", sa.String(length=400), nullable=False),
        sa.Column("confirmed_at", WHEN, nullable=True),
        sa.Column("last_step", ID, nullable=False),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("id", ID, primary_key=True),
        sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", WHEN, nullable=True),
    )
    op.create_index("ix_recovery_codes_user_id", "recovery_codes", ["user_id"])
    op.create_table(
        "sign_in_policies",
        sa.Column("brand_id", ID, sa.ForeignKey("brands.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("require_totp", sa.Boolean(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sign_in_policies")
    op.drop_index("ix_recovery_codes_user_id", "recovery_codes")
    op.drop_table("recovery_codes")
    op.drop_table("totp_credentials")
    op.drop_index("ix_user_sessions_user_id", "user_sessions")
    op.drop_table("user_sessions")
