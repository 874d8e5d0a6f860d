"""The HTTP server: uvicorn, told to end the inbox's live streams when it is asked to stop.

An open inbox tab holds a server-sent-event stream for up to its ``ttl`` (5 minutes).
uvicorn's graceful shutdown waits for every response to finish, so without this a
``Ctrl-C``, a ``systemctl stop`` or a deploy would wait minutes for those streams (or be
killed by the service manager). On the stop signal the hub ends every stream at once; the
browsers' EventSource reconnects by itself (``retry: 2000``) to the server that replaces us.
"""

from __future__ import annotations

import asyncio
import socket
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI

GRACE_S = 10  # then uvicorn cancels what still runs (a slow request), rather than hang


class Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Signal handler (also callable from another thread): stop, and end the streams."""
        super().handle_exit(sig, frame)
        app = self.config.app
        if self._loop is not None and isinstance(app, FastAPI):
            # Never the hub's lock from a signal handler: the interrupted code may hold it.
            self._loop.call_soon_threadsafe(app.state.hub.close)


def config(app: FastAPI, host: str, port: int, **options: Any) -> uvicorn.Config:
    options.setdefault("log_level", "warning")
    options.setdefault("timeout_graceful_shutdown", GRACE_S)
    return uvicorn.Config(app, host=host, port=port, **options)


def run(app: FastAPI, host: str, port: int) -> None:
    Server(config(app, host, port)).run()
