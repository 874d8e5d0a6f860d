"""The workers' own SQL: keeping the planner's statistics of young ingest tables fresh."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from earful.db import make_engine
from earful.migrate import upgrade
from earful.worker.repository import ANALYZE_FLOOR, ANALYZE_STATISTICS, analyze_grown

pytestmark = [pytest.mark.postgres]


@pytest.fixture
def pg(pg_schema: str) -> Iterator[Engine]:
    engine = make_engine(pg_schema, pool_size=1, max_overflow=0)  # one backend: its stats
    upgrade(engine)
    yield engine
    engine.dispose()


def _analyzed(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT relname, analyze_count FROM pg_stat_user_tables "
                "WHERE schemaname = current_schema()"
            )
        )
        return {str(name): int(n) for name, n in rows}


def _grow_identities(engine: Engine, rows: int, start: int = 0) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO identities (network, external_id, created_at) SELECT 'x', 'u' || n, "
                "now() FROM generate_series(CAST(:a AS int), CAST(:b AS int)) AS n"
            ),
            {"a": start, "b": start + rows - 1},
        )
    with engine.connect() as conn:  # the backend goes idle after this: its counts are flushed
        conn.execute(text("SELECT pg_stat_force_next_flush()"))


def test_an_ingest_table_that_doubled_is_analyzed_once(pg: Engine) -> None:
    _grow_identities(pg, ANALYZE_FLOOR * 2)
    with pg.begin() as conn:
        assert analyze_grown(conn) == ["identities"]
    assert _analyzed(pg)["identities"] == 1
    with pg.begin() as conn:
        assert analyze_grown(conn) == []  # nothing changed since
    _grow_identities(pg, ANALYZE_FLOOR // 2, start=ANALYZE_FLOOR * 2)  # grew by a quarter
    with pg.begin() as conn:
        assert analyze_grown(conn) == []
    assert _analyzed(pg)["identities"] == 1


def test_a_grown_table_is_analyzed_from_a_small_sample_in_that_transaction_only(
    pg: Engine,
) -> None:
    _grow_identities(pg, 5000)  # 5,000 distinct handles: a full sample would keep 101 bounds
    with pg.begin() as conn:
        assert analyze_grown(conn) == ["identities"]
        bounds = conn.scalar(
            text(
                "SELECT array_length(histogram_bounds::text::text[], 1) FROM pg_stats "
                "WHERE schemaname = current_schema() AND tablename = 'identities' "
                "AND attname = 'external_id'"
            )
        )
    assert bounds == ANALYZE_STATISTICS + 1
    with pg.connect() as conn:  # SET LOCAL: the next transaction has the server's target
        assert conn.scalar(text("SHOW default_statistics_target")) == "100"
