"""SQL of the stream workers: the ordering lock and each source's applied sequence number."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select, text, update

from earful.models import (
    Alert,
    Conversation,
    ConversationPost,
    DeadLetter,
    Identity,
    MentionCount,
    OutboundJob,
    Post,
    Source,
)
from earful.models.base import utcnow
from earful.pipeline.repository import INGEST_LOCK, lock_ingest

__all__ = ["INGEST_LOCK", "lock_ingest"]  # the ingest's lock lives with the ingest SQL

ANALYZE_LOCK = INGEST_LOCK + 1
SEQ_KEY = "stream_seq"
# The tables the ingest reads back while it writes them.
INGEST_TABLES = tuple(
    str(m.__tablename__)
    for m in (Post, Identity, Conversation, ConversationPost, MentionCount, Alert, DeadLetter)
)
ANALYZE_FLOOR = 500  # rows changed before a table counts as grown
ANALYZE_STATISTICS = 10  # statistics target of those ANALYZEs (PostgreSQL's default: 100)


def applied_seq(conn: Connection, source_name: str) -> int:
    """The sequence number of the last stream batch of this source stored (0: none)."""
    config = conn.scalar(select(Source.config).where(Source.name == source_name))
    return int((config or {}).get(SEQ_KEY, 0))


def source_config(conn: Connection, source_id: int) -> dict[str, Any]:
    """The source's config, which holds its applied sequence (read it under the lock)."""
    return dict(conn.scalar(select(Source.config).where(Source.id == source_id)) or {})


def seq_of(config: dict[str, Any]) -> int:
    return int(config.get(SEQ_KEY, 0))


def save_seq(
    conn: Connection,
    source_id: int,
    config: dict[str, Any],
    seq: int,
    cursor: str | None = None,
    *,
    with_cursor: bool = False,
) -> None:
    """Record batch ``seq`` as stored (and, ``with_cursor``, the connector's cursor, like
    ``IngestRepository.save_cursor``): one UPDATE of the source row."""
    values: dict[str, Any] = {"config": {**config, SEQ_KEY: seq}}
    if with_cursor:
        values.update(cursor=cursor, status="running", updated_at=utcnow())
    conn.execute(update(Source).where(Source.id == source_id).values(**values))


def analyze_grown(conn: Connection) -> list[str]:
    """ANALYZE the ingest tables that doubled since PostgreSQL last gathered their
    statistics; returns their names. One worker at a time; none on SQLite.

    The ingest's lookups are planned from those statistics (and psycopg prepares them, so a
    plan made once is kept). A young table doubles in seconds at ingest rates, autovacuum
    looks once a minute - and not at all where it is off - and a plan made when ``posts``
    held a thousand rows scans it whole at a hundred thousand: on a fresh database every
    batch then costs more than the last. Once tables are large, doubling takes long and
    autovacuum's own 10 % threshold comes first, so this stays out of its way.
    """
    if conn.dialect.name != "postgresql":
        return []
    if not conn.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": ANALYZE_LOCK}):
        return []
    grown = [
        str(name)
        for (name,) in conn.execute(
            text(
                "SELECT relname FROM pg_stat_user_tables "
                "WHERE schemaname = current_schema() AND relname = ANY(:names) "
                "AND n_mod_since_analyze >= GREATEST(:floor, n_live_tup / 2)"
            ),
            {"names": list(INGEST_TABLES), "floor": ANALYZE_FLOOR},
        )
        if name in INGEST_TABLES
    ]
    if grown:
        # A tenth of the default sample (3,000 rows a table, not 30,000): these plans need
        # the tables' sizes, not fine histograms (autovacuum's own ANALYZE brings those once
        # a table is large). The full sample of five 16,000-row tables took ~220 ms of a
        # core, and on two cores every worker's batches were late by that much.
        conn.execute(text(f"SET LOCAL default_statistics_target = {ANALYZE_STATISTICS}"))
    for name in grown:
        conn.execute(text(f"ANALYZE {name}"))  # a name from INGEST_TABLES, never input
    return grown


def outbound_states(conn: Connection) -> dict[str, int]:
    """Outbound jobs per state, for /metrics."""
    rows = conn.execute(select(OutboundJob.state, func.count()).group_by(OutboundJob.state))
    return {str(state): int(n) for state, n in rows}
