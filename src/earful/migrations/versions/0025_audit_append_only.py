"""The audit log is append-only in the database too: an event cannot be changed or
deleted, whoever connects. Two changes stay possible, both made by the database itself:
a deleted user's id set to NULL (the event keeps the email recorded at the time), and a
deleted brand's events going with it.

Revision ID: audit_append_only
Revises: second_factor_sessions
"""

from collections.abc import Sequence

from alembic import op

revision: str = "audit_append_only"
down_revision: str | None = "second_factor_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGE = "the audit log is append-only"
# Every column but user_id is unchanged, and user_id only goes to NULL.
SAME = " AND ".join(
    f"NEW.{c} IS NOT DISTINCT FROM OLD.{c}"
    for c in ("id", "at", "brand_id", "actor", "address", "action", "target")
)

PG_FUNCTION = f"""
CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF NEW.user_id IS NULL AND {SAME}
       AND NEW.details::text IS NOT DISTINCT FROM OLD.details::text THEN
      RETURN NEW;
    END IF;
  ELSIF OLD.brand_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM brands WHERE id = OLD.brand_id) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'insufficient_privilege';
END $$ LANGUAGE plpgsql
"""

SQLITE_SAME = SAME.replace("IS NOT DISTINCT FROM", "IS") + " AND NEW.details IS OLD.details"


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
        return
    op.execute(
        "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
        f"WHEN NOT (NEW.user_id IS NULL AND {SQLITE_SAME}) "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
        "WHEN OLD.brand_id IS NULL OR EXISTS (SELECT 1 FROM brands WHERE id = OLD.brand_id) "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
    )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION audit_events_append_only()")
        return
    op.execute("DROP TRIGGER audit_events_no_update")
    op.execute("DROP TRIGGER audit_events_no_delete")
