"""Redis and PostgreSQL setup for the worker tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from tests.conftest import REDIS_URL

# A database of its own: other suites flush theirs.
WORKER_REDIS_URL = REDIS_URL.rsplit("/", 1)[0] + "/13"


@contextmanager
def stream_keys(client: redis.Redis) -> Iterator[str]:
    """A unique stream name; every key under it is deleted afterwards."""
    stream = f"test:{uuid.uuid4().hex[:10]}"
    try:
        yield stream
    finally:
        keys = list(client.scan_iter(match=f"{stream}*", count=1000))
        if keys:
            client.delete(*keys)
