"""`earful engagement`: how a brand's agents sign, the thank-you text, compliment rules."""

from __future__ import annotations

from typing import Annotated

import typer

from earful.auth import repository as users_repo
from earful.auth.service import audit
from earful.cli.context import brand_or_exit, console, engine_or_exit, err_console, refused
from earful.csat import service as csat_service
from earful.db import transaction
from earful.engagement import compose, settings, shifts
from earful.engagement import repository as repo

app = typer.Typer(no_args_is_help=True)
Database = Annotated[str | None, typer.Option(help="Database URL (default: settings).")]


@app.command("signing")
def signing(
    brand: Annotated[str, typer.Argument(help="Brand slug.")],
    signature_format: Annotated[
        str | None,
        typer.Option(help="How agents sign: {initials}, {first}, {name}; e.g. '^{initials}'."),
    ] = None,
    thank_text: Annotated[
        str | None,
        typer.Option(help="The thank-you reply to compliments ({customer}, {brand}); '' resets."),
    ] = None,
    thank: Annotated[
        bool | None, typer.Option("--thank/--no-thank", help="Thank compliments by itself.")
    ] = None,
    like: Annotated[
        bool | None, typer.Option("--like/--no-like", help="Like compliments by itself.")
    ] = None,
    repost: Annotated[
        bool | None, typer.Option("--repost/--no-repost", help="Repost compliments by itself.")
    ] = None,
    min_score: Annotated[
        float | None, typer.Option(help="Only compliments this positive (0-1).", min=0, max=1)
    ] = None,
    database: Database = None,
) -> None:
    """Set (or show) the brand's signature format, thank-you text and compliment rules."""
    engine = engine_or_exit(database)
    with transaction(engine) as session:
        brand_id = brand_or_exit(session, brand).id
        current = repo.settings(session, brand_id)
        rules = None
        if any(v is not None for v in (thank, like, repost, min_score)):
            old = current.compliment_rules or {}
            rules = settings.Rules(
                thank=bool(old.get("thank")) if thank is None else thank,
                like=bool(old.get("like")) if like is None else like,
                repost=bool(old.get("repost")) if repost is None else repost,
                min_score=float(old.get("min_score", 0.0)) if min_score is None else min_score,
            )
        with refused():
            s = settings.set_signing(
                session,
                brand_id,
                signature_format=signature_format,
                thank_template=thank_text,
                rules=rules,
            )
        changed = [
            name
            for name, value in (
                ("signature_format", signature_format),
                ("thank_template", thank_text),
                ("compliment_rules", rules),
            )
            if value is not None
        ]
        if changed:
            audit(session, None, "settings.signing", brand_id=brand_id,
                  target=f"brand:{brand}", fields=",".join(changed))  # fmt: skip
        r = s.compliment_rules or {}
        auto = [a for a in ("thank", "like", "repost") if r.get(a)]
        console.print(
            f"{brand}: agents sign {s.signature_format!r} (Jane Smith: "
            f"{compose.signature(s.signature_format, 'Jane Smith')!r}); thank-you text "
            f"{s.thank_template or 'the default'!r}; compliments: "
            + (f"{', '.join(auto)} from score {r.get('min_score', 0.0)}" if auto else "by hand")
        )


@app.command("signature")
def signature(
    brand: Annotated[str, typer.Argument(help="Brand slug.")],
    email: Annotated[str, typer.Argument(help="The agent's email.")],
    text: Annotated[
        str, typer.Argument(help="Their own signature in this brand; '' uses the brand's.")
    ],
    database: Database = None,
) -> None:
    """Give an agent their own signature in a brand (overrides the brand's format)."""
    engine = engine_or_exit(database)
    with transaction(engine) as session:
        brand_id = brand_or_exit(session, brand).id
        user = users_repo.user_by_email(session, email.strip().lower())
        if user is None or users_repo.membership(session, user.id, brand_id) is None:
            err_console.print(f"[red]error:[/red] no agent {email!r} in {brand}")
            raise typer.Exit(1)
        with refused():
            row = settings.set_agent_signature(session, brand_id, user.id, text)
        audit(session, None, "settings.agent_signature", brand_id=brand_id,
              target=f"user:{user.id}")  # fmt: skip
        console.print(
            f"{email} signs {row.signature!r} in {brand}"
            if row
            else f"{email} signs with {brand}'s format"
        )


@app.command("public")
def public(
    brand: Annotated[str, typer.Argument(help="Brand slug.")],
    publish: Annotated[
        bool | None, typer.Option("--on/--off", help="Publish the service page (/s/BRAND).")
    ] = None,
    contact: Annotated[
        str | None, typer.Option(help="The preferred way to reach you, e.g. 'DM @AcmeHelp on X'.")
    ] = None,
    database: Database = None,
) -> None:
    """Publish the brand's public service page: hours, whether you are in, the honest ETA."""
    engine = engine_or_exit(database)
    with transaction(engine) as session:
        brand_id = brand_or_exit(session, brand).id
        with refused():
            s = settings.set_public_page(session, brand_id, published=publish, contact=contact)
        if publish is not None or contact is not None:
            audit(session, None, "settings.public_page", brand_id=brand_id,
                  target=f"brand:{brand}", result="on" if s.public_page else "off")  # fmt: skip
    console.print(
        f"{brand}: service page /s/{brand} is "
        + ("published" if s.public_page else "not published")
        + (f"; preferred contact: {s.preferred_contact}" if s.preferred_contact else "")
    )


@app.command("csat")
def csat(
    brand: Annotated[str, typer.Argument(help="Brand slug.")],
    enabled: Annotated[
        bool | None,
        typer.Option("--on/--off", help="Send a 1-5 survey after each resolved conversation."),
    ] = None,
    valid_days: Annotated[
        int | None, typer.Option(help="Days the survey's link can be answered (1-90).")
    ] = None,
    database: Database = None,
) -> None:
    """Ask customers "How did we do?" once their conversation is resolved (or show it)."""
    engine = engine_or_exit(database)
    with transaction(engine) as session:
        brand_id = brand_or_exit(session, brand).id
        with refused():
            s = csat_service.set_csat(session, brand_id, enabled=enabled, valid_days=valid_days)
        if enabled is not None or valid_days is not None:
            audit(session, None, "settings.csat", brand_id=brand_id, target=f"brand:{brand}",
                  result="on" if s.enabled else "off", count=s.valid_days)  # fmt: skip
        console.print(
            f"{brand}: satisfaction surveys are " + ("on" if s.enabled else "off")
            + f"; links valid {s.valid_days} days"
        )  # fmt: skip


@app.command("shift-posts")
def shift_posts(
    brand: Annotated[str, typer.Argument(help="Brand slug.")],
    enabled: Annotated[
        bool | None,
        typer.Option("--on/--off", help="Post when the team comes in and when it leaves."),
    ] = None,
    network: Annotated[str | None, typer.Option(help="Where to post, e.g. mastodon.")] = None,
    sign_on: Annotated[
        str | None, typer.Option(help="Text on opening; {until} is filled in; '' resets.")
    ] = None,
    sign_off: Annotated[
        str | None, typer.Option(help="Text on closing; {until} is filled in; '' resets.")
    ] = None,
    database: Database = None,
) -> None:
    """Sign-on / sign-off posts at the edges of the brand's service hours (or show them)."""
    engine = engine_or_exit(database)
    with transaction(engine) as session:
        brand_id = brand_or_exit(session, brand).id
        with refused():
            s = shifts.set_shift_posts(session, brand_id, enabled=enabled, network=network,
                                       sign_on=sign_on, sign_off=sign_off)  # fmt: skip
        if any(v is not None for v in (enabled, network, sign_on, sign_off)):
            audit(session, None, "settings.shift_posts", brand_id=brand_id,
                  target=f"brand:{brand}", result="on" if s.enabled else "off",
                  network=s.network)  # fmt: skip
        console.print(
            f"{brand}: sign-on/off posts are " + ("on" if s.enabled else "off")
            + f" on {s.network}; on: {s.sign_on or shifts.DEFAULT_ON!r}; "
            + f"off: {s.sign_off or shifts.DEFAULT_OFF!r}"
        )  # fmt: skip
