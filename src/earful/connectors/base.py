"""The connector interface: a network's wire format in, our posts out (and actions back).

A connector reads its network from a cursor and yields :class:`Batch` es; the pipeline
stores the batch's posts and its ``cursor`` in one transaction, so a restart resumes
exactly after the last stored batch (no gap, no duplicate).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import ClassVar

from earful.pipeline.schema import PostIn, Rejected


class ConnectorError(Exception):
    """The connector cannot go on (bad configuration, unreadable source)."""


@dataclass(slots=True)
class Batch:
    posts: list[PostIn]
    rejected: list[Rejected] = field(default_factory=list)
    # Where to resume after this batch is stored.
    cursor: str | None = None
    # Records read but deliberately not posts (e.g. Jetstream deletes, likes).
    skipped: int = 0
    # Progress in the connector's own unit (bytes for files), for progress bars.
    progress: int = 0


class Connector(ABC):
    """One network. Subclasses register themselves by ``name`` in the registry."""

    name: ClassVar[str]
    network: ClassVar[str]

    @abstractmethod
    def read(self, cursor: str | None) -> Iterator[Batch]:
        """Yield batches from ``cursor`` (None: from the beginning) onwards."""

    @property
    def source_name(self) -> str:
        """A stable name for the stored source row that keeps this connector's cursor."""
        return self.name

    def total(self) -> int | None:
        """Total progress units, when known (file size), for progress bars."""
        return None
