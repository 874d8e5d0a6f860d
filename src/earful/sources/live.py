"""Running a connector into the store: batches, edits, deletions, cursor and health.

Each batch commits in one transaction together with the source's cursor, so a restart
resumes exactly after the last stored batch. The pipeline applies the batch's edits and
deletions too (``pipeline.changes``).

:class:`earful.sources.supervisor.Supervisor` hears every live source in ``earful run``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from sqlalchemy import Engine, select

from earful.connectors.base import Batch, Connector, ConnectorError, Health, LiveConnector
from earful.models import Source
from earful.models.base import utcnow
from earful.pipeline.repository import IngestRepository
from earful.pipeline.runner import IngestSummary, Pipeline
from earful.sources import repository

log = logging.getLogger("earful.sources")


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
        if source_id is not None and (batch.posts or batch.edited or batch.deleted):
            repository.heard(conn, source_id, utcnow())
        if source_id is not None and batch.cursor is not None:
            IngestRepository(conn).save_cursor(source_id, batch.cursor)
    pipeline.after_commit(summary)  # the second tier, never inside the batch's transaction
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
    origin, brand_id, cursor = _stored(engine, source_id)
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


def _heard(engine: Engine, source_id: int) -> bool:
    with engine.connect() as conn:
        return repository.is_heard(conn, source_id)


def _stored(engine: Engine, source_id: int) -> tuple[str, int | None, str | None]:
    """The source's name (the origin of its dead letters), brand and cursor."""
    with engine.connect() as conn:
        name, brand_id, cursor = conn.execute(
            select(Source.name, Source.brand_id, Source.cursor).where(Source.id == source_id)
        ).one()
    return name, brand_id, cursor


async def listen(
    engine: Engine,
    connector: LiveConnector,
    source_id: int,
    pipeline: Pipeline | None = None,
    on_batch: Callable[[Batch, IngestSummary], None] | None = None,
) -> IngestSummary:
    """:func:`run` for a live connector, on the caller's event loop.

    Cancelling the task stops it between two batches: a batch is stored (with its cursor,
    in one transaction) before the next is awaited, so a restart resumes right after it.
    The source then reads "stopped".
    """
    pipeline = pipeline or Pipeline(engine)
    origin, brand_id, cursor = _stored(engine, source_id)
    connector.on_health = lambda health: write_health(engine, source_id, health)
    total = IngestSummary()
    try:
        async with contextlib.aclosing(connector.listen(cursor)) as batches:
            async for batch in batches:
                # Paused or deleted by an admin since: this batch is not stored, nor its
                # cursor, so a resumed source hears it again where the network replays.
                if not _heard(engine, source_id):
                    log.info("source %s paused or deleted: stopped", origin)
                    break
                result = store_batch(pipeline, engine, batch, origin, source_id, brand_id)
                total.add(result)
                if on_batch:
                    on_batch(batch, result)
                write_health(engine, source_id, connector.health)
    except ConnectorError as exc:
        write_health(engine, source_id, Health("failing", str(exc)))
        raise
    except asyncio.CancelledError:
        write_health(engine, source_id, Health("stopped"))
        raise
    write_health(engine, source_id, Health("idle"))
    return total
