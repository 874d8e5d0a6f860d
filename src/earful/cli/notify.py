"""`earful notify ...` (a user's notification choices) and `earful webhooks ...` (a brand's
event webhooks): the operator's doors to what the settings pages change."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from earful.auth import repository as users_repo
from earful.auth.service import Principal, load_principal
from earful.cli.context import (
    brand_or_exit,
    console,
    engine_or_exit,
    fail,
    refused,
    settings_or_exit,
)
from earful.db import transaction
from earful.notifications import repository as repo
from earful.notifications import service
from earful.notifications.schemas import ChannelIn, PreferencesIn, endpoint_out

app = typer.Typer(no_args_is_help=True)
webhooks_app = typer.Typer(no_args_is_help=True)

Events = Annotated[
    str | None, typer.Option(help="Comma-separated: spike, sla, assigned (empty: none).")
]


def _user(session: Session, email: str) -> Principal:
    user = users_repo.user_by_email(session, email)
    principal = load_principal(session, user.id) if user else None
    if principal is None:
        raise fail(f"no active user {email}")
    return principal


def _events(value: str | None, before: list[str]) -> list[str]:
    if value is None:
        return before
    return [e.strip() for e in value.split(",") if e.strip()]


@app.command("set")
def set_(
    brand: Annotated[str, typer.Argument(help="Brand slug.")],
    user: Annotated[str, typer.Argument(help="The user's email.")],
    email_events: Events = None,
    email: Annotated[str | None, typer.Option(help="Mail here (default: their own).")] = None,
    chat_events: Events = None,
    chat_url: Annotated[str | None, typer.Option(help="Slack/Mattermost webhook URL.")] = None,
    browser_events: Events = None,
    quiet: Annotated[
        str | None, typer.Option(help="Quiet hours, e.g. 22:00-07:00 ('' for none).")
    ] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA zone of the quiet hours.")] = None,
    quiet_mode: Annotated[str | None, typer.Option(help="hold or drop.")] = None,
) -> None:
    """Choose which events reach a user on which channel (what is not given is kept)."""
    engine = engine_or_exit()
    with refused(), transaction(engine) as session:
        principal = _user(session, user)
        now = service.preferences(session, principal, brand)
        start, end = now.quiet_start, now.quiet_end
        if quiet is not None:
            start, _, end = quiet.partition("-") if quiet else ("", "", "")
        ch = now.channels
        mail_to = email if email is not None else ch["email"].address
        hook = chat_url if chat_url is not None else ch["chat"].address
        prefs = PreferencesIn(
            channels={
                "email": ChannelIn(address=mail_to,
                                   events=_events(email_events, ch["email"].events)),
                "chat": ChannelIn(address=hook, events=_events(chat_events, ch["chat"].events)),
                "browser": ChannelIn(events=_events(browser_events, ch["browser"].events)),
            },
            quiet_start=start, quiet_end=end, timezone=timezone or now.timezone,
            quiet_mode=quiet_mode or now.quiet_mode,
        )  # fmt: skip
        saved = service.save_preferences(session, principal, brand, prefs)
    _show(saved.model_dump())


def _show(doc: dict[str, object]) -> None:
    table = Table("channel", "address", "events", "failures", "state")
    channels = doc["channels"]
    assert isinstance(channels, dict)
    for name, c in channels.items():
        state = "suspended" if c["suspended"] else ("failing" if c["failures"] else "ok")
        table.add_row(name, c["address"] or "", ", ".join(c["events"]) or "-",
                      str(c["failures"]), state)  # fmt: skip
    console.print(table)
    if doc["quiet_start"]:
        console.print(f"quiet {doc['quiet_start']}-{doc['quiet_end']} {doc['timezone']}: "
                      f"{doc['quiet_mode']}")  # fmt: skip


@app.command("show")
def show(
    brand: Annotated[str, typer.Argument(help="Brand slug.")],
    user: Annotated[str, typer.Argument(help="The user's email.")],
) -> None:
    """A user's notification choices in a brand."""
    engine = engine_or_exit()
    with refused(1), transaction(engine) as session:
        doc = service.preferences(session, _user(session, user), brand).model_dump()
    _show(doc)


# ------------------------------------------------------------------ webhooks


@webhooks_app.command("add")
def add(
    brand: Annotated[str, typer.Argument(help="Brand slug.")],
    url: Annotated[str, typer.Argument(help="Where events are POSTed.")],
    event: Annotated[
        list[str] | None, typer.Option(help="An event type (repeat; default: all).")
    ] = None,
) -> None:
    """Add an endpoint; its signing secret is printed this once."""
    settings = settings_or_exit()
    engine = engine_or_exit()
    with refused(), transaction(engine) as session:
        row, secret = service.add_endpoint(
            session, None, brand_or_exit(session, brand), url, event or [], settings.secret_key
        )
        ident, events = row.id, ", ".join(row.events)
    console.print(f"webhook {ident} for {events}")
    console.print(f"signing secret (shown once): {secret}", soft_wrap=True)


@webhooks_app.command("list")
def list_(brand: Annotated[str, typer.Argument(help="Brand slug.")]) -> None:
    """The brand's endpoints and whether they deliver."""
    engine = engine_or_exit()
    with transaction(engine) as session:
        found = brand_or_exit(session, brand)
        rows = [endpoint_out(e) for e in repo.endpoints(session, [found.id])]
    table = Table("id", "url", "events", "state")
    for e in rows:
        state = "suspended" if e.suspended else (f"{e.failures} failing" if e.failures else "ok")
        table.add_row(str(e.id), e.url, ", ".join(e.events), f"{state} {e.last_error or ''}")
    console.print(table)


@webhooks_app.command("remove")
def remove(
    brand: Annotated[str, typer.Argument(help="Brand slug.")],
    endpoint_id: Annotated[int, typer.Argument(help="The webhook's id.")],
) -> None:
    engine = engine_or_exit()
    with refused(1), transaction(engine) as session:
        service.remove_endpoint(session, None, brand_or_exit(session, brand), endpoint_id)
    console.print(f"webhook {endpoint_id} removed")


@webhooks_app.command("resume")
def resume(
    brand: Annotated[str, typer.Argument(help="Brand slug.")],
    endpoint_id: Annotated[int, typer.Argument(help="The webhook's id.")],
) -> None:
    """Try a suspended endpoint again; what it missed is queued again (same event ids)."""
    engine = engine_or_exit()
    with refused(1), transaction(engine) as session:
        n = service.resume_endpoint(session, None, brand_or_exit(session, brand), endpoint_id)
    console.print(f"webhook {endpoint_id} resumed; {n} deliveries queued again")
