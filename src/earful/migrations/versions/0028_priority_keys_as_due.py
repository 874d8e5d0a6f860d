"""Recompute every waiting conversation's inbox key as its due time.

``conversation_states.priority_key`` was ``score * target - waiting_since`` (seconds) and
is now ``-due`` (``conversations.priority``): the first unanswered customer post plus the
target of its priority, counted in the brand's service hours. Keys stored before kept the
old order until each conversation was touched again. This recomputes them with the
ingest's own code path (``refresh_states``), a page of conversations at a time; answered
conversations keep theirs, whose formula did not change.

Revision ID: priority_keys_as_due
Revises: conversations_by_first_post
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "priority_keys_as_due"
down_revision: str | None = "conversations_by_first_post"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAGE = 5_000  # conversations recomputed per round

PAGE_IDS = sa.text(
    "SELECT conversation_id FROM conversation_states "
    "WHERE waiting_since IS NOT NULL AND conversation_id > :after "
    "ORDER BY conversation_id LIMIT :n"
)


def upgrade() -> None:
    from sqlalchemy.orm import Session

    from earful.conversations.repository import refresh_states

    conn = op.get_bind()
    after = 0
    with Session(bind=conn) as session:  # joins the migration's transaction, never commits
        while True:
            ids = conn.execute(PAGE_IDS, {"after": after, "n": PAGE}).scalars().all()
            if not ids:
                return
            refresh_states(session, ids)
            after = ids[-1]


def downgrade() -> None:
    """Nothing to undo: ``-due`` is what the code writes from now on."""
