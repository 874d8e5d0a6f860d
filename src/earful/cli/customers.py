"""`earful customers export|erase`: a customer's access and erasure requests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from earful.auth.service import audit
from earful.cli.context import console, engine_or_exit, err_console
from earful.customers import erasure, export
from earful.db import transaction
from earful.errors import DomainError
from earful.models import Conversation, Identity

app = typer.Typer(no_args_is_help=True)
Network = Annotated[str, typer.Argument(help="The account's network: x, bluesky, mastodon...")]
Handle = Annotated[str | None, typer.Option(help="The account's handle, e.g. dana_t.")]
NetworkId = Annotated[str | None, typer.Option("--id", help="The account's id on the network.")]


def _identity(session: Session, network: str, handle: str | None, ext: str | None) -> Identity:
    try:
        return erasure.find_identity(session, network, handle=handle, external_id=ext)
    except DomainError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


def _brands_of(session: Session, identity: Identity) -> list[int]:
    ids = [i.id for i in erasure.linked_identities(session, identity)]
    return list(
        session.scalars(
            select(Conversation.brand_id)
            .where(Conversation.identity_id.in_(ids))
            .distinct()
            .order_by(Conversation.brand_id)
        )
    )


@app.command("export")
def export_cmd(
    network: Network,
    handle: Handle = None,
    ext: NetworkId = None,
    output: Annotated[Path | None, typer.Option("-o", help="File (default: stdout).")] = None,
) -> None:
    """Everything stored about one customer, as JSON with timestamps."""
    engine = engine_or_exit()
    with transaction(engine) as session:
        identity = _identity(session, network, handle, ext)
        data = export.customer_data(session, identity)
        for brand_id in _brands_of(session, identity):
            audit(session, None, "customer.export", brand_id=brand_id,
                  target=f"identity:{identity.id}")  # fmt: skip
    blob = orjson.dumps(data, option=orjson.OPT_INDENT_2)
    if output is None:
        typer.echo(blob.decode())
    else:
        output.write_bytes(blob)
        err_console.print(f"wrote {output} ({len(data['posts'])} posts)")


@app.command("erase")
def erase_cmd(
    network: Network,
    handle: Handle = None,
    ext: NetworkId = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Erase one customer everywhere (accounts, posts, conversations, mentions), for good."""
    engine = engine_or_exit()
    with transaction(engine) as session:
        identity = _identity(session, network, handle, ext)
        label = f"{network} {identity.handle or identity.external_id}"
        if not yes and not typer.confirm(f"Erase {label} and everything about them?"):
            raise typer.Exit(1)
        brands = _brands_of(session, identity)
        target = f"identity:{identity.id}"
        report = erasure.erase(session, identity)
        for brand_id in brands:
            audit(session, None, "customer.erase", brand_id=brand_id, target=target,
                  count=report.posts)  # fmt: skip
    console.print(
        f"erased {label}: {report.identities} account(s), {report.posts} posts, "
        f"{report.conversations} conversations, {report.redacted} mentions redacted, "
        f"{report.dead_letters} dead letters; {report.tombstones} tombstones keep them out"
    )
