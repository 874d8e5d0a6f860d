"""`earful run`: the whole desk in one process, for a small team on one host.

Together, each in a thread of its own: the web inbox (as `earful serve`), the outbound
worker (as `earful outbound run`), the SMTP listener for customers' email answers (as
`earful mail serve`) and every configured live source (as `earful sources run`), all on
one database. SIGTERM or SIGINT stops them all, each between two units of work: the web
server ends its event streams and finishes its requests, the worker its round, the
sources their batch; then the process exits 0. Should the web server or the worker stop
on its own, the others are stopped too and the exit status is 1, so a service manager
restarts the whole desk. A source paused, resumed, added, changed or deleted while it runs
is heard (or not) within seconds (``sources.supervisor``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Annotated

import typer

from earful.cli.context import console, engine_or_exit, err_console, settings_or_exit
from earful.cli.outbound import MailListener, outbound, outbound_rounds, start_mail
from earful.migrate import upgrade
from earful.sources.supervisor import Supervisor
from earful.web import server
from earful.web.app import create_app

log = logging.getLogger("earful.run")
STARTUP_S = 30.0  # the web server must listen within this


def run(
    host: Annotated[str, typer.Option(help="Address the web inbox binds.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    mail: Annotated[
        bool, typer.Option("--mail/--no-mail", help="Receive email answers over SMTP.")
    ] = True,
    mail_host: Annotated[str, typer.Option(help="Address the SMTP listener binds.")] = "127.0.0.1",
    mail_port: Annotated[int, typer.Option(help="SMTP port.", min=1, max=65535)] = 2525,
    sources: Annotated[
        bool, typer.Option("--sources/--no-sources", help="Listen to the live sources.")
    ] = True,
    interval: Annotated[
        float, typer.Option(help="Seconds between outbound rounds.", min=0.05)
    ] = 1.0,
    sync_every: Annotated[
        float, typer.Option(help="Seconds between pulls of ticket updates (0: never).", min=0)
    ] = 60.0,
) -> None:
    """Serve the inbox, send the outbound queue, receive email, hear the live sources."""
    settings = settings_or_exit()
    engine = engine_or_exit()
    upgrade(engine)
    desk = _Desk()

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        desk.stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    try:
        if mail:
            try:
                desk.mail = start_mail(engine, mail_host, mail_port)
            except (OSError, RuntimeError) as exc:  # the port is taken, or not ours to bind
                raise _Failed(f"cannot receive mail on {mail_host}:{mail_port}: {exc}") from None
            console.print(f"inbound mail on {mail_host}:{mail_port} for *@{desk.mail.reply_domain}")
        if sources:
            desk.sources = Supervisor(engine, settings.secret_key)
            heard, broken = desk.sources.start()
            for name, why in broken:
                err_console.print(f"[yellow]source {name} not started:[/yellow] {why}")
            console.print(f"live sources: {', '.join(heard) or 'none'}")
        sender = outbound(engine, settings.secret_key)
        desk.worker = _thread(
            "earful-outbound",
            lambda: asyncio.run(
                outbound_rounds(sender, desk.stop, interval=interval, sync_every=sync_every)
            ),
        )
        desk.web = server.Server(server.config(create_app(engine), host, port))
        desk.serving = _thread("earful-web", desk.web.run)
        desk.wait_until_served(host, port)
        desk.wait()
    except _Failed as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        desk.close()
        engine.dispose()
    console.print("stopped")


class _Failed(Exception):
    """A part of the desk could not start, or stopped by itself."""


class _Desk:
    """The parts started so far, and the event that stops them."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.mail: MailListener | None = None
        self.sources: Supervisor | None = None
        self.worker: threading.Thread | None = None
        self.web: server.Server | None = None
        self.serving: threading.Thread | None = None

    def wait_until_served(self, host: str, port: int) -> None:
        assert self.web is not None and self.serving is not None
        deadline = time.monotonic() + STARTUP_S
        while not self.web.started and not self.stop.wait(0.05):
            if not self.serving.is_alive() or time.monotonic() > deadline:
                raise _Failed(f"the web inbox could not start on http://{host}:{port}")
        if self.web.started:
            console.print(f"Earful inbox on http://{host}:{port}")

    def wait(self) -> None:
        """Until a stop signal; a part that ends by itself ends the desk."""
        assert self.serving is not None and self.worker is not None
        while not self.stop.wait(0.5):
            if not self.serving.is_alive():
                raise _Failed("the web inbox stopped")
            if not self.worker.is_alive():
                raise _Failed("the outbound worker stopped")

    def close(self) -> None:
        """Stop every part started, the web inbox first (no new work comes in)."""
        self.stop.set()  # the worker ends after its round
        if self.web is not None and self.serving is not None:
            self.web.handle_exit(signal.SIGTERM, None)
            self.serving.join(server.GRACE_S + 5)
        if self.worker is not None:
            self.worker.join(60)
        if self.sources is not None:
            self.sources.stop()
        if self.mail is not None:
            self.mail.stop()
            console.print(f"{self.mail.handler.stored} email answers filed")


def _thread(name: str, target: Callable[[], object]) -> threading.Thread:
    """Start ``target`` in a thread; an exception is logged with its traceback (a crash is
    noticed by the main loop, which stops the rest)."""

    def body() -> None:
        try:
            target()
        except Exception:
            log.exception("%s failed", name)

    thread = threading.Thread(target=body, name=name, daemon=True)
    thread.start()
    return thread
