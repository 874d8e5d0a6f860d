"""Hearing every live source in one process (``earful run``), kept in step with the store.

An admin pauses, resumes, adds, edits or deletes a source in the browser or the CLI, in
another process. The supervisor reconciles every ``every`` seconds: it reads which sources
should be heard, each with a fingerprint of its settings, stops the listeners of those gone
(paused, deleted, changed) and starts the missing ones. A listener also checks its source
before storing each batch, so nothing arrives from a paused source even between two rounds.

Every listener runs on one event loop in a thread of its own, and one pipeline stores
their batches one at a time: threading reads stored conversations and then writes them,
so two sources storing at once could each open a conversation for the same customer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from sqlalchemy import Engine

from earful.connectors.base import ConnectorError, Health, LiveConnector
from earful.pipeline.runner import Pipeline
from earful.sources import live, repository
from earful.sources.service import PUSH_KINDS, live_connectors

log = logging.getLogger("earful.sources")
RECONCILE_S = 1.0  # how soon a change made elsewhere reaches the listeners


class Supervisor:
    """The live sources heard now; :meth:`stop` ends them all between two batches."""

    def __init__(
        self,
        engine: Engine,
        secret_key: str,
        pipeline: Pipeline | None = None,
        every: float = RECONCILE_S,
    ) -> None:
        self.engine = engine
        self.secret_key = secret_key
        self.pipeline = pipeline or Pipeline(engine)
        self.every = every
        self.errors: dict[int, Exception] = {}
        self._tasks: dict[int, tuple[str, asyncio.Task[None]]] = {}  # id: (fingerprint, task)
        self._given_up: dict[int, str] = {}  # failed or ended: not retried until changed
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._first: tuple[list[str], list[tuple[str, str]]] = ([], [])
        self._thread = threading.Thread(target=self._run, name="earful-sources", daemon=True)

    def start(self) -> tuple[list[str], list[tuple[str, str]]]:
        """Start hearing; the names of the sources heard and ``(name, why)`` of those
        that could not be built."""
        self._thread.start()
        self._started.wait()
        return self._first

    def stop(self, timeout: float = 10.0) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stop.set)
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
        self._stop = asyncio.Event()
        try:
            self._first = await self._reconcile()
        finally:
            self._started.set()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.every)
            if self._stop.is_set():
                break
            try:
                _, broken = await self._reconcile()
            except Exception:  # the store is away for a moment: try again next round
                log.exception("cannot reconcile the live sources")
                continue
            for name, why in broken:
                log.error("source %s not started: %s", name, why)
        await self._cancel(list(self._tasks))

    async def _reconcile(self) -> tuple[list[str], list[tuple[str, str]]]:
        with self.engine.connect() as conn:
            wanted = repository.wanted(conn, PUSH_KINDS)
        for source_id in list(self._given_up):
            if wanted.get(source_id) != self._given_up[source_id]:
                del self._given_up[source_id]  # paused, changed or deleted: may start again
        for source_id, (fingerprint, task) in list(self._tasks.items()):
            if task.done():  # it failed, or stopped by itself
                del self._tasks[source_id]
                self._given_up[source_id] = fingerprint
        gone = [i for i, (fp, _) in self._tasks.items() if wanted.get(i) != fp]
        await self._cancel(gone)
        missing = [i for i in wanted if i not in self._tasks and i not in self._given_up]
        if not missing:
            return [], []
        heard, broken = live_connectors(self.engine, self.secret_key, only=set(missing))
        for source_id in set(missing) - {i for i, _, _ in heard}:
            self._given_up[source_id] = wanted[source_id]  # retried once it changes
        for source_id, name, connector in heard:
            task = asyncio.create_task(self._one(source_id, name, connector), name=name)
            self._tasks[source_id] = (wanted[source_id], task)
            log.info("source %s started", name)
        return [name for _, name, _ in heard], broken

    async def _cancel(self, source_ids: list[int]) -> None:
        tasks = [self._tasks.pop(i)[1] for i in source_ids if i in self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _one(self, source_id: int, name: str, connector: LiveConnector) -> None:
        try:
            await live.listen(self.engine, connector, source_id, self.pipeline)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.errors[source_id] = exc
            log.error("source %s (id %d) stopped: %s", name, source_id, exc)
            if not isinstance(exc, ConnectorError):
                with contextlib.suppress(Exception):
                    live.write_health(self.engine, source_id, Health("failing", str(exc)))
