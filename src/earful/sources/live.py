"""Running a connector into the store: batches, edits, deletions, cursor and health.

Each batch commits in one transaction together with the source's cursor, so a restart
resumes exactly after the last stored batch. Edits replace the stored text (or arrive as
new posts when the original was never heard); deletions mark the stored post.

:class:`Listeners` hears several live sources at once in one process (``earful run``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence

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
                result = store_batch(pipeline, engine, batch, origin, source_id, brand_id)
                total.add(result)
                write_health(engine, source_id, connector.health)
                if on_batch:
                    on_batch(batch, result)
    except ConnectorError as exc:
        write_health(engine, source_id, Health("failing", str(exc)))
        raise
    except asyncio.CancelledError:
        write_health(engine, source_id, Health("stopped"))
        raise
    write_health(engine, source_id, Health("idle"))
    return total


class Listeners:
    """Live sources heard together, in one thread with an event loop of its own.

    One pipeline stores every source's batches, one at a time: threading reads stored
    conversations and then writes them, so two sources storing at once could each open a
    conversation for the same customer. A source that fails (refused credentials, a
    connector error) is logged and marked failing; the others go on. :meth:`stop` ends
    them all between two batches.
    """

    def __init__(
        self,
        engine: Engine,
        sources: Sequence[tuple[int, str, LiveConnector]],
        pipeline: Pipeline | None = None,
    ) -> None:
        self.engine = engine
        self.sources = list(sources)  # (source id, name, connector)
        self.pipeline = pipeline or Pipeline(engine)
        self.summaries: dict[int, IngestSummary] = {}
        self.errors: dict[int, Exception] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="earful-sources", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._started.wait()

    def stop(self, timeout: float = 10.0) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                for task in self._tasks:
                    loop.call_soon_threadsafe(task.cancel)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._main())
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            self._started.set()
            loop.close()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._tasks = [
            asyncio.create_task(self._one(source_id, name, connector), name=name)
            for source_id, name, connector in self.sources
        ]
        self._started.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _one(self, source_id: int, name: str, connector: LiveConnector) -> None:
        try:
            self.summaries[source_id] = await listen(
                self.engine, connector, source_id, self.pipeline
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.errors[source_id] = exc
            log.error("source %s (id %d) stopped: %s", name, source_id, exc)
            if not isinstance(exc, ConnectorError):
                with contextlib.suppress(Exception):
                    write_health(self.engine, source_id, Health("failing", str(exc)))
