"""`earful customers export|erase`: a customer's access and erasure requests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from earful.auth.service import audit
from earful.cli.context import console, engine_or_exit, err_console, refused
from earful.customers import erasure, export, links
from earful.db import transaction
from earful.models import Conversation, ErasureRequest, Identity
from earful.models.base import utcnow

app = typer.Typer(no_args_is_help=True)
Network = Annotated[str, typer.Argument(help="The account's network: x, bluesky, mastodon...")]
Handle = Annotated[str | None, typer.Option(help="The account's handle, e.g. dana_t.")]
NetworkId = Annotated[str | None, typer.Option("--id", help="The account's id on the network.")]


def _identity(session: Session, network: str, handle: str | None, ext: str | None) -> Identity:
    with refused():
        return erasure.find_identity(session, network, handle=handle, external_id=ext)


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
    network: Annotated[
        str | None, typer.Argument(help="The account's network: x, bluesky, mastodon...")
    ] = None,
    handle: Handle = None,
    ext: NetworkId = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    resume: Annotated[
        bool, typer.Option("--resume", help="Finish the erasures a killed process left.")
    ] = False,
) -> None:
    """Erase one customer everywhere (accounts, posts, conversations, mentions), for good."""
    engine = engine_or_exit()
    if resume:
        with transaction(engine) as session:
            reports = erasure.resume_pending(session, utcnow())
        for report in reports:
            console.print(f"finished an erasure: {_summary(report)}")
        if not reports:
            console.print("no erasure was left unfinished")
        return
    if network is None:
        err_console.print("[red]error:[/red] name the network (or give --resume)")
        raise typer.Exit(2)
    # The request is committed first: if this process dies, --resume finishes it.
    with transaction(engine) as session:
        identity = _identity(session, network, handle, ext)
        label = f"{network} {identity.handle or identity.external_id}"
        if not yes and not typer.confirm(f"Erase {label} and everything about them?"):
            raise typer.Exit(1)
        request_id = erasure.record_request(session, identity, "cli").id
    with transaction(engine) as session:
        request = session.get(ErasureRequest, request_id)
        assert request is not None
        report = erasure.carry_out(session, request, utcnow())
    console.print(f"erased {label}: {_summary(report)}")


def _summary(report: erasure.ErasureReport) -> str:
    return (
        f"{report.identities} account(s), {report.posts} posts, "
        f"{report.conversations} conversations, {report.redacted} mentions redacted, "
        f"{report.dead_letters} dead letters; {report.tombstones} tombstones keep them out"
    )


@app.command("link")
def link_cmd(
    network: Network,
    handle: Handle = None,
    ext: NetworkId = None,
    to_network: Annotated[str, typer.Option(help="The other account's network.")] = "email",
    to: Annotated[str, typer.Option(help="The other account's handle or address.")] = "",
) -> None:
    """Link two accounts into one customer (an X handle and an email address, say)."""
    engine = engine_or_exit()
    with transaction(engine) as session:
        one = _identity(session, network, handle, ext)
        other = _identity(session, to_network, to or None, None)
        with refused():
            links.link_accounts(session, one, other)
        for brand_id in _brands_of(session, one):
            audit(session, None, "customer.link", brand_id=brand_id,
                  target=f"identity:{other.id}", network=other.network)  # fmt: skip
    console.print(f"linked {network} {handle or ext} and {to_network} {to}")


@app.command("unlink")
def unlink_cmd(network: Network, handle: Handle = None, ext: NetworkId = None) -> None:
    """Take an account out of its customer (it becomes its own person again)."""
    engine = engine_or_exit()
    with transaction(engine) as session:
        ident = _identity(session, network, handle, ext)
        brands = _brands_of(session, ident)
        if ident.customer_id is None:
            err_console.print("[red]error:[/red] that account is not linked to a customer")
            raise typer.Exit(2)
        ident.customer_id = None
        for brand_id in brands:
            audit(session, None, "customer.unlink", brand_id=brand_id,
                  target=f"identity:{ident.id}", network=ident.network)  # fmt: skip
    console.print(f"unlinked {network} {handle or ext}")
