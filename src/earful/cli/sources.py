"""`earful sources ...`: add, list, run and check the health of network sources."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from earful.auth.service import audit
from earful.brands import repository as brands
from earful.cli.context import console, engine_or_exit, err_console, settings_or_exit
from earful.connectors import fields
from earful.connectors.base import ConnectorError
from earful.db import transaction
from earful.migrate import upgrade
from earful.sources import service

app = typer.Typer(no_args_is_help=True)


def _settings_help() -> str:
    """The same declared settings the web form shows, so the two never drift."""
    lines = ["Add a source; its settings as --set KEY=VALUE (secrets sealed at rest):"]
    for kind, declared in fields.FIELDS.items():
        names = ", ".join(f.name + ("*" if f.required else "") for f in declared)
        lines.append(f"{kind}: {names}")
    return "\n\n".join([*lines, "(* required)"])


@app.command("add", help=_settings_help())
def add(
    kind: Annotated[str, typer.Argument(help=f"One of {', '.join(service.kinds())}.")],
    name: Annotated[str, typer.Argument(help="A unique name for this source.")],
    brand: Annotated[str | None, typer.Option(help="Brand slug the source belongs to.")] = None,
    setting: Annotated[
        list[str] | None, typer.Option("--set", help="KEY=VALUE; secrets are encrypted at rest.")
    ] = None,
) -> None:
    settings: dict[str, object] = {}
    for item in setting or []:
        key, sep, value = item.partition("=")
        if not sep:
            err_console.print(f"[red]error:[/red] --set {key!r}: expected KEY=VALUE")
            raise typer.Exit(2)
        settings[key] = value
    secret_key = settings_or_exit().secret_key
    engine = engine_or_exit()
    upgrade(engine)
    try:
        with transaction(engine) as session:
            brand_id = None
            if brand:
                found = brands.by_slug(session, brand)
                if found is None:
                    raise service.SourceError(f"no brand {brand!r}")
                brand_id = found.id
            view = service.add_source(
                session,
                kind=kind,
                name=name,
                brand_id=brand_id,
                settings=settings,
                secret_key=secret_key,
            )
    except service.SourceError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(f"source {view.name} added (id {view.id})")


@app.command("list")
def list_() -> None:
    engine = engine_or_exit()
    with transaction(engine) as session:
        table = Table(
            "id", "name", "kind", "brand", "state", "credentials", "last event", "last error"
        )
        for s in service.list_sources(session):
            table.add_row(
                str(s.id),
                s.name,
                s.kind,
                str(s.brand_id or ""),
                s.state,
                "sealed" if s.has_credentials else "",
                s.last_event_at.isoformat(timespec="seconds") if s.last_event_at else "",
                s.last_error or "",
            )
    console.print(table)


def _change(source_id: int, action: str) -> None:
    engine = engine_or_exit()
    upgrade(engine)
    try:
        with transaction(engine) as session:
            source = service.get_source(session, source_id)
            if action == "delete":
                service.delete_source(session, source_id)
            else:
                service.set_paused(session, source_id, action == "pause")
            audit(session, None, f"source.{action}", brand_id=source.brand_id,
                  target=f"source:{source_id}")  # fmt: skip
    except service.SourceError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print(f"source {source_id}: {action} done")


@app.command("pause")
def pause(source_id: int) -> None:
    """Stop hearing a source (a running `earful run` stops it after its next batch)."""
    _change(source_id, "pause")


@app.command("resume")
def resume(source_id: int) -> None:
    """Hear a paused source again (from its cursor, when `earful run` next starts)."""
    _change(source_id, "resume")


@app.command("delete")
def delete(source_id: int) -> None:
    """Forget a source and its sealed credentials; the posts it brought stay."""
    _change(source_id, "delete")


@app.command("health")
def health(source_id: int) -> None:
    engine = engine_or_exit()
    try:
        with transaction(engine) as session:
            console.print(service.health(session, source_id).text)
    except service.SourceError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None


@app.command("run")
def run(
    source_id: int,
    once: Annotated[bool, typer.Option(help="Stop after 5 s without events.")] = False,
) -> None:
    secret_key = settings_or_exit().secret_key
    engine = engine_or_exit()
    overrides: dict[str, object] = {"idle_timeout": 5.0} if once else {}
    try:
        summary = service.run_source(engine, source_id, secret_key, None, **overrides)
    except (service.SourceError, ConnectorError) as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print(
        f"{summary.ingested} stored, {summary.duplicates} duplicates, "
        f"{summary.dead_lettered} dead-lettered"
    )
