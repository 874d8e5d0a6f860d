"""A brand's settings for its admins, in the browser: the brand, service hours and SLA,
signing and compliments, the public page, the team, listening queries with a preview.

Every route asks for the admin role of the brand (404 to non-members, 403 to others);
every form posts, redirects back and shows what was saved; bad input is shown on the page
with what is wrong, and nothing is saved."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from earful.admin import desk, desk_endpoints, service
from earful.admin.forms import back_to, submit
from earful.auth import repository as auth_repo
from earful.auth.access import access_brand_ids
from earful.brands import repository as brands_repo
from earful.engagement import hours
from earful.engagement.settings import Rules
from earful.errors import BadInput
from earful.models import Role
from earful.web.deps import CurrentUser, Db
from earful.web.render import render

html = APIRouter(include_in_schema=False)
# Every form field is optional here and checked by the services *after* access: another
# brand's slug or id answers 404, never a 422 that would confirm it exists.
Text = Annotated[str, Form(max_length=2000)]


def number(value: str, what: str, low: float, high: float) -> float:
    try:
        found = float(value)
    except ValueError:
        raise BadInput(f"{what} must be a number") from None
    if not low <= found <= high:
        raise BadInput(f"{what} is between {low:g} and {high:g}")
    return found


@html.get("/brands", response_class=HTMLResponse)
def brands_page(request: Request, db: Db, principal: CurrentUser) -> Response:
    """The brands this user runs, and a form to start a new one."""
    admin_of = brands_repo.readable(db, access_brand_ids(principal, Role.ADMIN))
    return render(request, "brands.html", {"brands": admin_of, "error": None})


@html.post("/brands")
def create_brand(
    request: Request,
    db: Db,
    principal: CurrentUser,
    slug: Annotated[str, Form(max_length=64)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    brand = service.create(db, principal, slug, name)  # no brand to look up yet
    return back_to(
        f"/brands/{brand.slug}/settings", f"Brand {brand.name} created: you are its admin."
    )


def role_of(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise BadInput(f"the role is one of {', '.join(r.value for r in Role)}") from None


def sign_in_of(db: Db, brand_id: int) -> dict[str, object]:
    """The team's sign-in: whether a second factor is required, who has one."""
    policy = auth_repo.policy_of(db, brand_id)
    members = auth_repo.members_with_roles(db, brand_id)
    return {
        "require_totp": bool(policy and policy.require_totp),
        "with_totp": auth_repo.totp_status(db, [uid for uid, *_ in members]),
    }


def _settings_context(db: Db, principal: CurrentUser, slug: str) -> dict[str, object]:
    brand = service.admin_brand(db, principal, slug)
    s = service.engagement_of(db, brand)
    return {
        "brand": brand,
        "s": s,
        "rules": s.compliment_rules or {},
        "days": [(d, service.day_text((s.hours or {}).get(d))) for d in hours.DAYS],
        "always": not s.hours,
        "members": service.members_of(db, brand),
        "signatures": desk.signatures_of(db, principal, slug),
        "sign_in": sign_in_of(db, brand.id),
        "roles": [r.value for r in Role],
        "handles": ", ".join(
            f"{net}:{h}" for net, hs in sorted((brand.handles or {}).items()) for h in hs
        ),
        **service.customer_posts_of(db, brand),
    }


@html.get("/brands/{slug}/settings", response_class=HTMLResponse)
def settings_page(
    request: Request,
    db: Db,
    principal: CurrentUser,
    slug: str,
    saved: str = "",
) -> Response:
    context = _settings_context(db, principal, slug)
    return render(request, "settings.html", {**context, "saved": saved[:300]})


@html.post("/brands/{slug}/settings/brand")
def save_brand(
    db: Db, principal: CurrentUser, slug: str, name: Text = "", keywords: Text = "",
    handles: Text = "",
) -> Response:  # fmt: skip
    def save() -> str:
        service.update(db, principal, slug, name, keywords, handles)
        return "Brand saved."

    return submit(db, principal, slug, save, section="brand")


@html.post("/brands/{slug}/settings/hours")
def save_hours(
    request: Request,
    db: Db,
    principal: CurrentUser,
    slug: str,
    timezone: Annotated[str, Form(max_length=64)] = "",
    target_minutes: Annotated[str, Form(max_length=12)] = "",
    always: Annotated[bool, Form()] = False,
    auto_ack: Annotated[bool, Form()] = False,
    ack_backlog: Annotated[str, Form(max_length=12)] = "0",
    mon: Text = "",
    tue: Text = "",
    wed: Text = "",
    thu: Text = "",
    fri: Text = "",
    sat: Text = "",
    sun: Text = "",
) -> Response:
    days = {"mon": mon, "tue": tue, "wed": wed, "thu": thu, "fri": fri, "sat": sat, "sun": sun}

    def save() -> str:
        service.set_hours(
            db, principal, slug, timezone=timezone, always=always, days=days,
            target_minutes=int(number(target_minutes, "the response target", 1, 100_000)),
            auto_ack=auto_ack,
            ack_backlog=int(number(ack_backlog or "0", "the backlog", 0, 100_000)),
        )  # fmt: skip
        return "Service hours saved."

    return submit(db, principal, slug, save, section="hours")


@html.post("/brands/{slug}/settings/signing")
def save_signing(
    db: Db,
    principal: CurrentUser,
    slug: str,
    signature_format: Annotated[str, Form(max_length=64)] = "",
    thank_text: Text = "",
    thank: Annotated[bool, Form()] = False,
    like: Annotated[bool, Form()] = False,
    repost: Annotated[bool, Form()] = False,
    min_score: Annotated[str, Form(max_length=12)] = "0",
) -> Response:
    def save() -> str:
        score = number(min_score or "0", "the minimum score", 0, 1)
        rules = Rules(thank=thank, like=like, repost=repost, min_score=score)
        service.set_signing(
            db, principal, slug, signature_format=signature_format, thank_text=thank_text,
            rules=rules,
        )  # fmt: skip
        return "Signing and compliment rules saved."

    return submit(db, principal, slug, save, section="signing")


@html.post("/brands/{slug}/settings/public")
def save_public(
    db: Db,
    principal: CurrentUser,
    slug: str,
    published: Annotated[bool, Form()] = False,
    contact: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    def save() -> str:
        service.set_public(db, principal, slug, published=published, contact=contact)
        return "Public page saved."

    return submit(db, principal, slug, save, section="public")


@html.post("/brands/{slug}/members")
def add_member(
    request: Request,
    db: Db,
    principal: CurrentUser,
    slug: str,
    email: Annotated[str, Form(max_length=320)] = "",
    role: Annotated[str, Form(max_length=16)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    service.admin_brand(db, principal, slug)  # access before any other check
    wanted = role_of(role)
    added = service.add_member(db, principal, slug, email, name, wanted)
    if added.password is None:
        return back_to(f"/brands/{slug}/settings", f"{added.email} is now {wanted.value}.", "team")
    # A new account: its password is shown once, on this page, never stored in clear.
    context = _settings_context(db, principal, slug)
    return render(
        request,
        "settings.html",
        {
            **context,
            "saved": f"Account {added.email} created as {wanted.value}.",
            "new_password": (added.email, added.password),
        },
        headers={"Cache-Control": "no-store"},
    )


@html.post("/brands/{slug}/members/{member_id}")
def change_member(
    db: Db,
    principal: CurrentUser,
    slug: str,
    member_id: int,
    role: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    def save() -> str:
        if role == "remove":
            service.change_role(db, principal, slug, member_id, None)
            return "Removed from the brand."
        wanted = role_of(role)
        service.change_role(db, principal, slug, member_id, wanted)
        return f"Role changed to {wanted.value}."

    return submit(db, principal, slug, save, section="team")


# ------------------------------------------------------------------ listening queries


@html.get("/brands/{slug}/queries", response_class=HTMLResponse)
def queries_page(
    request: Request, db: Db, principal: CurrentUser, slug: str, saved: str = ""
) -> Response:
    brand = service.admin_brand(db, principal, slug)
    return render(
        request,
        "queries.html",
        {"brand": brand, "queries": service.queries_of(db, brand), "saved": saved[:300]},
    )


@html.post("/brands/{slug}/queries/preview", response_class=HTMLResponse)
def preview(
    request: Request, db: Db, principal: CurrentUser, slug: str, query: Text = ""
) -> Response:
    """The live explain: syntax, then the last 24 h of the brand's posts it would match."""
    service.admin_brand(db, principal, slug)  # even for an empty query
    result = service.preview(db, principal, slug, query) if query.strip() else None
    return render(request, "_query_preview.html", {"p": result, "query": query})


@html.post("/brands/{slug}/queries")
def add_query(
    db: Db,
    principal: CurrentUser,
    slug: str,
    name: Annotated[str, Form(max_length=200)] = "",
    query: Text = "",
) -> Response:
    def save() -> str:
        return f"Query {service.add_query(db, principal, slug, name, query).name} saved."

    return submit(db, principal, slug, save, page="queries")


@html.post("/brands/{slug}/queries/{query_id}")
def change_query(
    db: Db,
    principal: CurrentUser,
    slug: str,
    query_id: int,
    action: Annotated[str, Form(max_length=16)] = "switch",
) -> Response:
    def save() -> str:
        service.switch_query(db, principal, slug, query_id, delete=action == "delete")
        return ""

    return submit(db, principal, slug, save, page="queries")


@html.post("/brands/{slug}/settings/customer-posts")
def save_customer_posts(
    db: Db,
    principal: CurrentUser,
    slug: str,
    csat: Annotated[bool, Form()] = False,
    csat_days: Annotated[str, Form(max_length=12)] = "7",
    shift_posts: Annotated[bool, Form()] = False,
    shift_network: Annotated[str, Form(max_length=32)] = "mastodon",
    sign_on: Text = "",
    sign_off: Text = "",
) -> Response:
    """The satisfaction survey and the sign-on / sign-off posts."""

    def save() -> str:
        service.set_customer_posts(
            db, principal, slug, csat=csat,
            csat_days=int(number(csat_days or "7", "the survey link's validity", 1, 90)),
            shift_posts=shift_posts, network=shift_network, sign_on=sign_on, sign_off=sign_off,
        )  # fmt: skip
        return "Survey and sign-on/off posts saved."

    return submit(db, principal, slug, save, section="customer-posts")


# The desk's own settings (sources, holidays and SLA targets, signatures): one router.
html.include_router(desk_endpoints.html)
