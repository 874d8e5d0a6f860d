"""The Alembic history is one line and matches the ORM models exactly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from earful.migrate import alembic_config, upgrade
from earful.models import Base
from earful.models.search import include_object


def test_single_head(sqlite_engine: Engine) -> None:
    script = ScriptDirectory.from_config(alembic_config(sqlite_engine))
    assert len(script.get_heads()) == 1, f"several migration heads: {script.get_heads()}"


def test_models_match_migrations(engine: Engine) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": False, "include_object": include_object}
        )
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], f"models and migrations differ; add a migration: {diff}"


def test_upgrade_is_idempotent(engine: Engine) -> None:
    upgrade(engine)  # a second run finds nothing to do and does not fail
