"""`earful users ...`: create agents and grant them roles in brands."""

from __future__ import annotations

import secrets
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from earful.auth import repository, second_factor
from earful.auth import sessions as server_sessions
from earful.auth.service import (
    audit,
    audit_member,
    create_token,
    create_user,
    grant,
    revoke_token,
    set_active,
    unlock,
)
from earful.cli.context import console, engine_or_exit, err_console, refused
from earful.db import transaction
from earful.migrate import upgrade
from earful.models import Role, User

app = typer.Typer(no_args_is_help=True)


def _parse_grants(items: list[str]) -> list[tuple[str, Role]]:
    grants = []
    for item in items:
        slug, _, role = item.partition(":")
        try:
            grants.append((slug, Role(role or "agent")))
        except ValueError:
            err_console.print(
                f"[red]error:[/red] --brand {item!r}: role must be admin, agent or viewer"
            )
            raise typer.Exit(2) from None
    return grants


@app.command("create")
def create(
    email: str,
    name: Annotated[str | None, typer.Option(help="Display name (signs replies).")] = None,
    brand: Annotated[
        list[str] | None,
        typer.Option(help="SLUG:ROLE (role admin, agent or viewer); repeat for several brands."),
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(
            envvar="EARFUL_NEW_USER_PASSWORD",
            help="Password; when omitted a random one is generated and printed once.",
        ),
    ] = None,
) -> None:
    grants = _parse_grants(brand or [])
    engine = engine_or_exit()
    upgrade(engine)
    clear = password or secrets.token_urlsafe(12)
    with refused(), transaction(engine) as session:
        found = {b.slug: b.id for b in repository.brands_by_slug(session, [s for s, _ in grants])}
        missing = [s for s, _ in grants if s not in found]
        if missing:
            err_console.print(f"[red]error:[/red] no such brand: {', '.join(missing)}")
            raise typer.Exit(2)
        user = create_user(session, email, name or email.split("@")[0], clear)
        for slug, role in grants:
            grant(session, user.id, found[slug], role)
    console.print(f"user {email} created with {len(grants)} brand role(s)")
    if password is None:
        console.print(f"password: {clear}")


@app.command("grant")
def grant_role(
    email: str, brand: str, role: Annotated[Role, typer.Argument()] = Role.AGENT
) -> None:
    engine = engine_or_exit()
    upgrade(engine)
    with transaction(engine) as session:
        user = repository.user_by_email(session, email.strip().lower())
        found = repository.brands_by_slug(session, [brand])
        if user is None or not found:
            err_console.print("[red]error:[/red] no such user or brand")
            raise typer.Exit(2)
        grant(session, user.id, found[0].id, role)
        audit(session, None, "user.grant", brand_id=found[0].id, target=f"user:{user.id}",
              role=role.value)  # fmt: skip
    console.print(f"{email} is {role.value} of {brand}")


@app.command("deactivate")
def deactivate(email: str) -> None:
    """Stop a user signing in (their sessions and tokens stop working at once)."""
    _set_active(email, False)


@app.command("activate")
def activate(email: str) -> None:
    """Let a deactivated user sign in again."""
    _set_active(email, True)


def _set_active(email: str, active: bool) -> None:
    engine = engine_or_exit()
    with refused(), transaction(engine) as session:
        user = set_active(session, email, active)
        audit_member(session, user, "user.activate" if active else "user.deactivate", None)
    console.print(f"{email} {'can sign in' if active else 'is deactivated'}")


@app.command("unlock")
def unlock_user(email: str) -> None:
    """Lift an account's sign-in delay or lock (after too many wrong passwords) at once."""
    engine = engine_or_exit()
    with transaction(engine) as session:
        lifted = unlock(session, email)
        user = repository.user_by_email(session, email.strip().lower())
        if lifted and user is not None:
            audit_member(session, user, "user.unlock", None)
    console.print(f"{email}: {'unlocked' if lifted else 'was not locked'}")


def _user_id(session: Session, email: str) -> int:
    user = repository.user_by_email(session, email.strip().lower())
    if user is None:
        err_console.print(f"[red]error:[/red] no user {email!r}")
        raise typer.Exit(1)
    return user.id


@app.command("token-create")
def token_create(email: str, name: str) -> None:
    """A new API token for the user, printed once (only its hash is stored)."""
    with transaction(engine_or_exit()) as session:
        token, clear = create_token(session, _user_id(session, email), name)
        console.print(f"token {token.id} ({token.name}), shown once: {clear}")


@app.command("tokens")
def tokens(email: str) -> None:
    """The user's API tokens: when each was created and last used."""
    with transaction(engine_or_exit()) as session:
        table = Table("id", "name", "created", "last used")
        for t in repository.tokens_of(session, _user_id(session, email)):
            used = t.last_used_at.isoformat(timespec="seconds") if t.last_used_at else "never"
            table.add_row(str(t.id), t.name, t.created_at.isoformat(timespec="seconds"), used)
    console.print(table)


@app.command("token-revoke")
def token_revoke(email: str, token_id: int) -> None:
    with refused(1), transaction(engine_or_exit()) as session:
        revoke_token(session, _user_id(session, email), token_id)
    console.print(f"token {token_id} revoked")


def _user_or_exit(session: Session, email: str) -> User:
    user = repository.user_by_email(session, email.strip().lower())
    if user is None:
        err_console.print(f"[red]error:[/red] no user {email!r}")
        raise typer.Exit(2)
    return user


@app.command("totp-reset")
def totp_reset(email: str) -> None:
    """Remove a user's second factor and recovery codes (a lost device): they set it up
    again at their next sign-in where a brand requires it. Their sessions end too."""
    engine = engine_or_exit()
    with transaction(engine) as session:
        user = _user_or_exit(session, email)
        removed = second_factor.remove(session, user.id)
        ended = server_sessions.revoke_all(session, user.id)
        audit_member(session, user, "auth.totp_reset", None, count=ended)
    state = "second factor removed" if removed else "had no second factor"
    console.print(f"{email}: {state}; {ended} session(s) ended")


@app.command("sign-out")
def sign_out(email: str) -> None:
    """End every browser session of a user at once (API tokens are revoked separately)."""
    engine = engine_or_exit()
    with transaction(engine) as session:
        user = _user_or_exit(session, email)
        ended = server_sessions.revoke_all(session, user.id)
        audit_member(session, user, "auth.sessions_revoked", None, count=ended)
    console.print(f"{email}: {ended} session(s) ended")
