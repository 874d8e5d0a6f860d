"""Grouping a live connection's frames into batches, for connectors that read frames
through an async generator (Mastodon's streams, X's filtered stream).

Bluesky reads its WebSocket directly: ``recv`` is cancel-safe, so it can put one plain
timeout around each batch and needs none of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, TypeVar

from earful.connectors.base import Retry

T = TypeVar("T")


async def frame_batches(
    frames: AsyncIterator[T],
    *,
    size: int,
    wait_s: float,
    idle_timeout: float | None,
    first: asyncio.Future[T] | None = None,
    end_reason: str = "stream ended",
    end_delay: float | None = None,
) -> AsyncGenerator[list[T], None]:
    """The frames of ``frames`` in lists: full at ``size`` or ``wait_s`` after the first.

    Returns after ``idle_timeout`` seconds without a frame (None: waits forever). When
    ``frames`` ends, the frames in hand come out first, then :class:`Retry` with
    ``end_reason`` / ``end_delay``; a :class:`Retry` from ``frames`` likewise comes after
    them. ``first``: a read of ``frames`` already started (to open the stream early).

    Why it is written this way: the next frame is read by a task and waited for with
    ``asyncio.wait``, never under a timeout. A timeout would cancel the ``anext`` of an
    async generator, and cancelling it closes the generator, and with it the connection.
    With ``asyncio.wait`` a read outlives a batch's deadline and counts for the next
    batch; it may still be in flight while a batch is handed on, which only reads ahead.
    This generator owns ``frames``: closing it cancels the read and closes ``frames``;
    callers should close it deterministically (``contextlib.aclosing``).
    """
    pending: asyncio.Future[T] | None = first
    chunk: list[T] = []
    deadline: float | None = None
    try:
        while True:
            wait = idle_timeout if deadline is None else max(0.0, deadline - time.monotonic())
            if pending is None:
                pending = asyncio.ensure_future(anext(frames))
            done, _ = await asyncio.wait({pending}, timeout=wait)
            if not done:
                if deadline is None:
                    return  # idle
                yield chunk
                chunk, deadline = [], None
                continue
            try:
                frame = pending.result()
            except StopAsyncIteration:
                if chunk:
                    yield chunk
                raise Retry(end_reason, end_delay) from None
            except Retry:
                if chunk:
                    yield chunk
                raise
            finally:
                pending = None
            chunk.append(frame)
            if deadline is None:
                deadline = time.monotonic() + wait_s
            if len(chunk) >= size:
                yield chunk
                chunk, deadline = [], None
    finally:
        await cancel(pending)
        if isinstance(frames, AsyncGenerator):
            await frames.aclose()


async def cancel(task: asyncio.Future[Any] | None) -> None:
    """Cancel ``task`` (if any) and wait for it to finish, whatever it ends with."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(BaseException):
        await task
