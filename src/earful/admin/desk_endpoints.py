"""The admin pages for the desk's own settings: live sources, holidays and SLA targets,
agents' signatures, the retention window. Admins of the brand only (404 to non-members,
403 to others), like the settings page; secrets are sealed and never shown back, only
whether they are set."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from earful.admin import desk, service
from earful.admin.forms import submit
from earful.connectors import fields
from earful.conversations import sla
from earful.customers.retention import MAX_DAYS
from earful.errors import BadInput
from earful.models import RETENTION_MODES
from earful.sources import service as sources
from earful.web.deps import CurrentUser, Db
from earful.web.render import render

html = APIRouter(include_in_schema=False)
Short = Annotated[str, Form(max_length=200)]


async def form_data(request: Request) -> FormData:
    """The whole form, for fields that depend on the network chosen (``set_<name>``)."""
    return await request.form()


# ------------------------------------------------------------------ live sources


@html.get("/brands/{slug}/sources", response_class=HTMLResponse)
def sources_page(
    request: Request,
    db: Db,
    principal: CurrentUser,
    slug: str,
    saved: str = "",
    kind: str = "",
) -> Response:
    brand = service.admin_brand(db, principal, slug)
    kind = kind if kind in fields.FIELDS else next(iter(sorted(fields.FIELDS)))
    return render(
        request,
        "sources.html",
        {
            "brand": brand,
            "sources": desk.sources_of(db, principal, slug),
            "kinds": sources.kinds(),
            "kind": kind,  # whose fields the form shows: ?kind= re-renders it, no script
            "fields": fields.FIELDS[kind],
            "saved": saved[:300],
        },
    )


@html.post("/brands/{slug}/sources")
def add_source(
    request: Request,
    db: Db,
    principal: CurrentUser,
    slug: str,
    form: Annotated[FormData, Depends(form_data)],
    kind: Annotated[str, Form(max_length=32)] = "",
    name: Short = "",
) -> Response:
    def save() -> str:
        added = desk.add_source(
            db, principal, slug, kind=kind, name=name, form=form,
            secret_key=request.app.state.sources_key,
        )  # fmt: skip
        return f"Source {added.name} added."

    return submit(db, principal, slug, save, page="sources")


@html.post("/brands/{slug}/sources/{source_id}")
def change_source(
    db: Db,
    principal: CurrentUser,
    slug: str,
    source_id: int,
    action: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    def save() -> str:
        return f"Source {desk.change_source(db, principal, slug, source_id, action)}."

    return submit(db, principal, slug, save, page="sources")


# ------------------------------------------------------------------ holidays, SLA targets


@html.get("/brands/{slug}/service-levels", response_class=HTMLResponse)
def levels_page(
    request: Request,
    db: Db,
    principal: CurrentUser,
    slug: str,
    saved: str = "",
) -> Response:
    brand = service.admin_brand(db, principal, slug)
    return render(
        request,
        "service_levels.html",
        {
            "brand": brand,
            "holidays": desk.holidays_of(db, principal, slug),
            "targets": desk.targets_of(db, principal, slug),
            "levels": sla.BY_URGENCY,
            "saved": saved[:300],
        },
    )


@html.post("/brands/{slug}/holidays")
def add_holiday(
    db: Db, principal: CurrentUser, slug: str, day: Short = "", name: Short = ""
) -> Response:
    def save() -> str:
        return f"Closed on {desk.add_holiday(db, principal, slug, day, name).day.isoformat()}."

    return submit(db, principal, slug, save, page="service-levels")


@html.post("/brands/{slug}/holidays/remove")
def remove_holiday(db: Db, principal: CurrentUser, slug: str, day: Short = "") -> Response:
    def save() -> str:
        return f"Open again on {desk.remove_holiday(db, principal, slug, day).isoformat()}."

    return submit(db, principal, slug, save, page="service-levels")


def _minutes(value: str, priority: str) -> int | None:
    if not value.strip():
        return None
    try:
        return int(value)
    except ValueError:
        raise BadInput(f"the {priority} target is a whole number of minutes") from None


@html.post("/brands/{slug}/sla")
def save_sla(
    db: Db,
    principal: CurrentUser,
    slug: str,
    urgent: Short = "",
    high: Short = "",
    normal: Short = "",
    low: Short = "",
) -> Response:
    given = {"urgent": urgent, "high": high, "normal": normal, "low": low}

    def save() -> str:
        desk.set_targets(db, principal, slug, {p: _minutes(v, p) for p, v in given.items()})
        return "SLA targets saved."

    return submit(db, principal, slug, save, page="service-levels")


# ------------------------------------------------------------------ agents' signatures


@html.post("/brands/{slug}/members/{member_id}/signature")
def save_signature(
    db: Db,
    principal: CurrentUser,
    slug: str,
    member_id: int,
    signature: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    def save() -> str:
        desk.set_signature(db, principal, slug, member_id, signature)
        return "Signature saved."

    return submit(db, principal, slug, save, section="team")


# ------------------------------------------------------------------ the retention window


@html.get("/brands/{slug}/retention", response_class=HTMLResponse)
def retention_page(
    request: Request,
    db: Db,
    principal: CurrentUser,
    slug: str,
    saved: str = "",
) -> Response:
    brand = service.admin_brand(db, principal, slug)
    return render(
        request,
        "retention.html",
        {
            "brand": brand,
            "policy": desk.retention_of(db, principal, slug),
            "modes": RETENTION_MODES,
            "max_days": MAX_DAYS,
            "saved": saved[:300],
        },
    )


@html.post("/brands/{slug}/retention")
def save_retention(
    db: Db,
    principal: CurrentUser,
    slug: str,
    mode: Annotated[str, Form(max_length=16)] = "",
    days: Short = "",
) -> Response:
    def save() -> str:
        kept = desk.set_retention(db, principal, slug, mode, days)
        verb = "deleted" if mode == "delete" else "anonymised"
        return f"Conversations quiet for over {kept} days are {verb}."

    return submit(db, principal, slug, save, page="retention")


@html.post("/brands/{slug}/retention/clear")
def clear_retention(db: Db, principal: CurrentUser, slug: str) -> Response:
    def save() -> str:
        desk.clear_retention(db, principal, slug)
        return "Conversations are kept for good."

    return submit(db, principal, slug, save, page="retention")
