"""The matcher the pipeline holds: swaps in a recompiled automaton without pausing.

``update`` reparses only queries whose text changed (parsed trees are cached), builds a
new :class:`CompiledMatcher` — in a background thread unless asked to wait — and swaps
it in with one reference assignment. ``match`` always runs on a complete snapshot, so a
batch never waits for a compile and never sees half of one.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

from earful.listening.compiler import CompiledMatcher, paused_gc
from earful.listening.parser import parse
from earful.listening.query import Query
from earful.pipeline.schema import PostIn


@dataclass(frozen=True, slots=True)
class QuerySource:
    """A query as stored: who it listens for and its text (already validated on save)."""

    key: Hashable
    brand_id: int
    text: str


class LiveMatcher:
    """A :class:`~earful.pipeline.stages.Matcher` whose queries can change while it runs."""

    def __init__(self, queries: Iterable[QuerySource] = ()) -> None:
        self._parsed: dict[str, Query] = {}
        self._lock = threading.Lock()  # one compile at a time; match() never takes it
        self._generation = 0
        self._current = self._build(list(queries))
        self._worker: threading.Thread | None = None

    @property
    def current(self) -> CompiledMatcher:
        return self._current

    def match(self, posts: Sequence[PostIn]) -> list[frozenset[int]]:
        return self._current.match(posts)

    def update(self, queries: Iterable[QuerySource], wait: bool = False) -> None:
        """Recompile with a new set of queries; the old one serves until the new is ready."""
        snapshot = list(queries)
        self._generation += 1
        generation = self._generation
        if wait:
            self._swap(snapshot, generation)
            return
        self._worker = threading.Thread(
            target=self._swap, args=(snapshot, generation), name="listening-compile", daemon=True
        )
        self._worker.start()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the last background compile is in (for tests and shutdown)."""
        if self._worker is not None:
            self._worker.join(timeout)

    def _swap(self, queries: list[QuerySource], generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return  # a newer update has been asked for; it will compile instead
            compiled = self._build(queries)
            if generation == self._generation:
                self._current = compiled

    def _build(self, queries: list[QuerySource]) -> CompiledMatcher:
        parsed: dict[str, Query] = {}
        with paused_gc():
            for q in queries:
                if q.text not in parsed:
                    parsed[q.text] = self._parsed.get(q.text) or parse(q.text)
        self._parsed = parsed  # drop trees of queries that are gone
        return CompiledMatcher((q.key, q.brand_id, parsed[q.text]) for q in queries)
