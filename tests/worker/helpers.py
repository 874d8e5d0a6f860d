"""Redis and PostgreSQL setup for the worker tests, and the end of the fleet tests."""

from __future__ import annotations

import subprocess
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import redis
from sqlalchemy import Engine, func, select

from earful.models import Post
from earful.worker.redis_streams import StreamConfig
from tests.conftest import REDIS_URL
from tests.pipeline.helpers import canonical

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


def reap(procs: Iterable[subprocess.Popen[bytes]], published: threading.Thread) -> None:
    """Kill the workers still running (a test that failed midway) and let the publisher end."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    published.join(30)


def assert_drained(client: redis.Redis, stream: str, cfg: StreamConfig) -> None:
    """Nothing left pending in the group, nothing dead-lettered."""
    assert client.xpending(stream, cfg.group)["pending"] == 0
    assert client.xlen(cfg.dead_stream) == 0


def final_state(engine: Engine, client: redis.Redis) -> tuple[dict[str, Any], int | None]:
    """What the workers stored (canonical, and how many posts); then closes both connections."""
    got = canonical(engine)
    with engine.connect() as conn:
        stored = conn.scalar(select(func.count(Post.id)))
    engine.dispose()
    client.close()
    return got, stored


def assert_as_reference(
    got: Mapping[str, Any], stored: int | None, expected: Mapping[str, Any]
) -> None:
    """The database ends exactly as the single-process reference run leaves it."""
    assert stored == len(expected["posts"])
    assert got["posts"] == expected["posts"]
    assert got["conversations"] == expected["conversations"]
    assert got == expected
