"""`earful serve`"""

from __future__ import annotations

from typing import Annotated

import typer

from earful.cli.context import console, engine_or_exit
from earful.migrate import upgrade
from earful.web import server
from earful.web.app import create_app


def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
) -> None:
    engine = engine_or_exit()
    upgrade(engine)
    console.print(f"Earful inbox on http://{host}:{port}")
    server.run(create_app(engine), host, port)
