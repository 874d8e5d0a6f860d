"""Running a connector into the store: batches, edits, deletions, cursor and health.

Each batch commits in one transaction together with the source's cursor, so a restart
resumes exactly after the last stored batch. Edits replace the stored text (or arrive as
new posts when the original was never heard); deletions mark the stored post.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine, select

from earful.connectors.base import Batch, Connector, ConnectorError, Health, LiveConnector
from earful.models import Source
from earful.models.base import utcnow
from earful.pipeline.repository import IngestRepository
from earful.pipeline.runner import IngestSummary, Pipeline
from earful.sources import repository


def store_batch(
    pipeline: Pipeline,
    engine: Engine,
    batch: Batch,
    origin: str,
    source_id: int | None,
    brand_id: int | None,
) -> IngestSummary:
    """Store one batch (posts, edits, deletions) and its cursor in one transaction."""
    with engine.begin() as conn:
        summary = pipeline.process(conn, batch, origin, source_id, brand_id)
        now = utcnow()
        if batch.edited:
            found = repository.apply_edits(conn, batch.edited, now)
            unheard = [p for p in batch.edited if (p.network, p.external_id) not in found]
            if unheard:
                late = Batch(posts=unheard)
                summary.add(pipeline.process(conn, late, origin, source_id, brand_id))
        repository.mark_deleted(conn, batch.deleted, now)
        if source_id is not None and batch.cursor is not None:
            IngestRepository(conn).save_cursor(source_id, batch.cursor)
    return summary


def write_health(engine: Engine, source_id: int, health: Health) -> None:
    with engine.begin() as conn:
        repository.set_health(conn, source_id, health.state, health.text)


def run(
    engine: Engine,
    connector: Connector,
    source_id: int,
    pipeline: Pipeline | None = None,
    on_batch: Callable[[Batch, IngestSummary], None] | None = None,
) -> IngestSummary:
    """Read ``connector`` from the source's stored cursor until it stops."""
    pipeline = pipeline or Pipeline(engine)
    with engine.connect() as conn:
        row = conn.execute(
            select(Source.name, Source.brand_id, Source.cursor).where(Source.id == source_id)
        ).one()
    origin, brand_id, cursor = row
    if isinstance(connector, LiveConnector):
        connector.on_health = lambda health: write_health(engine, source_id, health)
    total = IngestSummary()
    try:
        for batch in connector.read(cursor):
            result = store_batch(pipeline, engine, batch, origin, source_id, brand_id)
            total.add(result)
            if isinstance(connector, LiveConnector):
                write_health(engine, source_id, connector.health)
            if on_batch:
                on_batch(batch, result)
    except ConnectorError as exc:
        write_health(engine, source_id, Health("failing", str(exc)))
        raise
    write_health(engine, source_id, Health("idle"))
    return total
