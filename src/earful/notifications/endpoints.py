"""Notification choices (each user, per brand) and event webhooks (the brand's admins):
pages and their JSON twins, over the same services."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from earful.errors import BadInput
from earful.models import Role
from earful.notifications import repository as repo
from earful.notifications import service
from earful.notifications.events import EVENT_TYPES
from earful.notifications.schemas import (
    ChannelIn,
    EndpointCreated,
    EndpointIn,
    EndpointOut,
    PreferencesIn,
    PreferencesOut,
    endpoint_out,
)
from earful.web.deps import CurrentUser, Db
from earful.web.render import render

html = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["notifications"])
Text = Annotated[str, Form(max_length=2000)]
Picks = Annotated[list[str], Form(max_length=10)]


def _secret_key(request: Request) -> str:
    key: str = request.app.state.secret_key
    return key


def _page(db: Db, principal: CurrentUser, slug: str) -> dict[str, object]:
    brand = service.member_brand(db, principal, slug)
    return {
        "brand": brand,
        "p": service.preferences(db, principal, slug),
        "targets": {t.channel: t.id for t in repo.targets_of(db, principal.user_id, brand.id)},
        "events": service.EVENTS,
        "recent": repo.notifications_of(db, principal.user_id, brand.id, 20),
        "is_admin": principal.roles.get(brand.id) == Role.ADMIN,
    }


@html.get("/brands/{slug}/notifications", response_class=HTMLResponse)
def notifications_page(
    request: Request, db: Db, principal: CurrentUser, slug: str, saved: str = ""
) -> Response:
    return render(
        request, "notifications.html", {**_page(db, principal, slug), "saved": saved[:200]}
    )


@html.post("/brands/{slug}/notifications")
def save_notifications(
    db: Db, principal: CurrentUser, slug: str,
    email_address: Text = "", email_events: Picks = [],  # noqa: B006 - FastAPI copies it
    chat_address: Text = "", chat_events: Picks = [],  # noqa: B006
    browser_events: Picks = [],  # noqa: B006
    quiet_start: Text = "", quiet_end: Text = "", timezone: Text = "UTC", quiet_mode: Text = "hold",
) -> Response:  # fmt: skip
    prefs = PreferencesIn(
        channels={
            "email": ChannelIn(address=email_address, events=email_events[:3]),
            "chat": ChannelIn(address=chat_address, events=chat_events[:3]),
            "browser": ChannelIn(events=browser_events[:3]),
        },
        quiet_start=quiet_start[:5], quiet_end=quiet_end[:5], timezone=timezone[:64],
        quiet_mode=quiet_mode[:8],
    )  # fmt: skip
    service.save_preferences(db, principal, slug, prefs)
    return RedirectResponse(
        f"/brands/{quote(slug)}/notifications?saved={quote('Notifications saved.')}", 303
    )


@html.post("/brands/{slug}/notifications/targets/{target_id}/resume")
def resume_target(db: Db, principal: CurrentUser, slug: str, target_id: int) -> Response:
    service.resume_target(db, principal, slug, target_id)
    return RedirectResponse(f"/brands/{quote(slug)}/notifications?saved=Resumed.", 303)


# ------------------------------------------------------------------ event webhooks (admins)


def _webhooks_page(
    request: Request, db: Db, principal: CurrentUser, slug: str, **extra: object
) -> Response:
    brand = service.admin_brand(db, principal, slug)
    return render(
        request,
        "webhooks.html",
        {
            "brand": brand,
            "endpoints": [endpoint_out(e) for e in service.endpoints(db, principal, slug)],
            "troubles": service.troubles(db, principal, slug),
            "types": EVENT_TYPES,
            "secret": None,
            "saved": "",
            **extra,
        },
    )


@html.get("/brands/{slug}/webhooks", response_class=HTMLResponse)
def webhooks_page(
    request: Request, db: Db, principal: CurrentUser, slug: str, saved: str = ""
) -> Response:
    return _webhooks_page(request, db, principal, slug, saved=saved[:200])


@html.post("/brands/{slug}/webhooks", response_class=HTMLResponse)
def add_webhook(
    request: Request, db: Db, principal: CurrentUser, slug: str, url: Text = "",
    events: Picks = [],  # noqa: B006
) -> Response:  # fmt: skip
    brand = service.admin_brand(db, principal, slug)
    row, secret = service.add_endpoint(db, principal, brand, url, events, _secret_key(request))
    # Shown on this answer only (not a redirect: the secret must not sit in a URL).
    return _webhooks_page(request, db, principal, slug, secret=(row.id, secret))


@html.post("/brands/{slug}/webhooks/{endpoint_id}")
def change_webhook(
    db: Db, principal: CurrentUser, slug: str, endpoint_id: int, action: Text = ""
) -> Response:
    brand = service.admin_brand(db, principal, slug)
    if action == "delete":
        service.remove_endpoint(db, principal, brand, endpoint_id)
        done = "Webhook removed."
    elif action == "resume":
        n = service.resume_endpoint(db, principal, brand, endpoint_id)
        done = f"Webhook resumed; {n} missed deliveries queued again."
    else:
        service.endpoint(db, brand, endpoint_id)  # another brand's id: 404 before the 400
        raise BadInput("action is delete or resume")
    return RedirectResponse(f"/brands/{quote(slug)}/webhooks?saved={quote(done)}", 303)


# ------------------------------------------------------------------ JSON


@api.get("/brands/{slug}/notifications", response_model=PreferencesOut)
def api_preferences(db: Db, principal: CurrentUser, slug: str) -> PreferencesOut:
    return service.preferences(db, principal, slug)


@api.put("/brands/{slug}/notifications", response_model=PreferencesOut)
def api_save_preferences(
    db: Db, principal: CurrentUser, slug: str, body: PreferencesIn
) -> PreferencesOut:
    return service.save_preferences(db, principal, slug, body)


@api.get("/brands/{slug}/webhooks", response_model=list[EndpointOut])
def api_webhooks(db: Db, principal: CurrentUser, slug: str) -> list[EndpointOut]:
    return [endpoint_out(e) for e in service.endpoints(db, principal, slug)]


@api.post("/brands/{slug}/webhooks", response_model=EndpointCreated, status_code=201)
def api_add_webhook(
    request: Request, db: Db, principal: CurrentUser, slug: str, body: EndpointIn
) -> EndpointCreated:
    brand = service.admin_brand(db, principal, slug)
    row, secret = service.add_endpoint(
        db, principal, brand, body.url, body.events, _secret_key(request)
    )
    return EndpointCreated(**endpoint_out(row).model_dump(), secret=secret)


@api.delete("/brands/{slug}/webhooks/{endpoint_id}", status_code=204)
def api_remove_webhook(db: Db, principal: CurrentUser, slug: str, endpoint_id: int) -> Response:
    brand = service.admin_brand(db, principal, slug)
    service.remove_endpoint(db, principal, brand, endpoint_id)
    return Response(status_code=204)


@api.post("/brands/{slug}/webhooks/{endpoint_id}/resume", response_model=EndpointOut)
def api_resume_webhook(db: Db, principal: CurrentUser, slug: str, endpoint_id: int) -> EndpointOut:
    brand = service.admin_brand(db, principal, slug)
    service.resume_endpoint(db, principal, brand, endpoint_id)
    return endpoint_out(service.endpoint(db, brand, endpoint_id))
