"""inbox: conversation status on the state row, and the index the inbox reads

The inbox filtered on ``conversations.status`` but sorted on ``conversation_states``:
every candidate row cost a lookup in the other table. The status now lives on the state
row too, kept equal by a trigger on ``conversations`` (whoever updates it), and one
index serves the default page: (brand, priority key, id, status, network,
sentiment, intent) is read in key order and filtered without touching the table.

Revision ID: inbox_state_status
Revises: engagement
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "inbox_state_status"
down_revision: str | None = "engagement"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_TRIGGER = (
    "CREATE TRIGGER conversations_status_sync AFTER UPDATE OF status ON conversations "
    "BEGIN UPDATE conversation_states SET status = new.status "
    "WHERE conversation_id = new.id; END"
)
POSTGRES_TRIGGER = [
    "CREATE FUNCTION conversations_status_sync() RETURNS trigger AS $$ BEGIN "
    "UPDATE conversation_states SET status = NEW.status WHERE conversation_id = NEW.id; "
    "RETURN NULL; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER conversations_status_sync AFTER UPDATE OF status ON conversations "
    "FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) "
    "EXECUTE FUNCTION conversations_status_sync()",
]


def upgrade() -> None:
    with op.batch_alter_table("conversation_states") as batch:
        batch.add_column(
            sa.Column("status", sa.String(length=16), server_default="new", nullable=False)
        )
    op.execute(
        "UPDATE conversation_states SET status = (SELECT c.status FROM conversations c "
        "WHERE c.id = conversation_states.conversation_id)"
    )
    op.drop_index("ix_conversation_states_brand_priority", table_name="conversation_states")
    op.create_index(
        "ix_conversation_states_inbox",
        "conversation_states",
        ["brand_id", "priority_key", "conversation_id", "status", "network", "sentiment", "intent"],
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_TRIGGER:
            op.execute(statement)
    else:
        op.execute(SQLITE_TRIGGER)


def downgrade() -> None:
    op.execute(
        "DROP TRIGGER IF EXISTS conversations_status_sync ON conversations"
        if op.get_bind().dialect.name == "postgresql"
        else "DROP TRIGGER IF EXISTS conversations_status_sync"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS conversations_status_sync()")
    op.drop_index("ix_conversation_states_inbox", table_name="conversation_states")
    op.create_index(
        "ix_conversation_states_brand_priority",
        "conversation_states",
        ["brand_id", "priority_key"],
    )
    with op.batch_alter_table("conversation_states") as batch:
        batch.drop_column("status")
