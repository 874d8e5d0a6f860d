"""Engagement in the conversation view: job state and retry, compliments, the preferred
channel, handoff, the character counter and the honest expected response time.

Every route reaches brand data through the services, which go through ``access_*``:
another brand's ids answer 404. Form fields are optional here and checked by the
services *after* access, so a foreign id is a 404, never a 422 that confirms it exists.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from earful.auth.access import access_conversation
from earful.errors import BadInput
from earful.handoff import service as handoff_service
from earful.handoff.config import HandoffSettings
from earful.models import Role
from earful.models.base import utcnow
from earful.replies import acknowledge, compose, service
from earful.replies import repository as repo
from earful.web.deps import CurrentUser, Db
from earful.web.render import render

html = APIRouter(include_in_schema=False)


@lru_cache(maxsize=1)
def handoff_settings() -> HandoffSettings:
    return HandoffSettings()


def back(conv_id: int) -> RedirectResponse:
    return RedirectResponse(f"/c/{conv_id}#engage", status_code=303)


@html.get("/c/{conv_id}/engage", response_class=HTMLResponse)
def engage(request: Request, db: Db, principal: CurrentUser, conv_id: int) -> Response:
    """The engagement panel (loaded into the conversation page)."""
    conv = access_conversation(db, principal, conv_id)
    customer = service.customer_of(db, conv)
    post = repo.target_post(db, conv.id)
    expect = acknowledge.expectation(db, principal, conv_id, utcnow())
    ctx: dict[str, Any] = {
        "conv_id": conv.id,
        "can_act": principal.roles.get(conv.brand_id, Role.VIEWER).rank >= Role.AGENT.rank,
        "jobs": service.conversation_jobs(db, principal, conv_id),
        "handoffs": handoff_service.conversation_handoffs(db, principal, conv_id),
        "customer": customer,
        "channels": service.CHANNELS,
        "handoff_channels": handoff_service.CHANNELS,
        "network": post.network if post else None,
        "limit": compose.limit_for(post.network) if post else None,
        "expect": expect,
    }
    return render(request, "_engage.html", ctx)


@html.get("/c/{conv_id}/counter")
def counter(
    db: Db, principal: CurrentUser, conv_id: int, text: Annotated[str, Query()] = ""
) -> JSONResponse:
    """The per-network character counter (the signature counts too)."""
    c = service.counter(db, principal, conv_id, text[:20000])
    if c is None:
        return JSONResponse({"network": None})
    return JSONResponse({"used": c.used, "limit": c.limit, "left": c.left, "over": c.over})


@html.post("/c/{conv_id}/compliment")
def compliment(
    db: Db, principal: CurrentUser, conv_id: int, action: Annotated[str, Form()] = ""
) -> Response:
    actions = tuple(a for a in action.split(",") if a) or ("",)
    service.compliment_click(db, principal, conv_id, actions)
    db.commit()
    return back(conv_id)


@html.post("/c/{conv_id}/ask-channel")
def ask_channel(db: Db, principal: CurrentUser, conv_id: int) -> Response:
    service.ask_preferred_channel(db, principal, conv_id)
    db.commit()
    return back(conv_id)


@html.post("/c/{conv_id}/preferred-channel")
def preferred_channel(
    db: Db,
    principal: CurrentUser,
    conv_id: int,
    channel: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
) -> Response:
    service.set_preferred_channel(db, principal, conv_id, channel, email or None)
    db.commit()
    return back(conv_id)


@html.post("/c/{conv_id}/handoff")
def handoff(
    db: Db,
    principal: CurrentUser,
    conv_id: int,
    channel: Annotated[str, Form()] = "",
    message: Annotated[str, Form(max_length=5000)] = "",
    address: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    settings = handoff_settings()
    if channel == "preferred":
        handoff_service.handoff_preferred(db, principal, conv_id, settings, message)
    else:
        access_conversation(db, principal, conv_id, Role.AGENT)
        if not channel:
            raise BadInput("choose where to hand the conversation off to")
        handoff_service.handoff(
            db, principal, conv_id, channel, settings, message or None, address or None
        )
    db.commit()
    return back(conv_id)


@html.post("/jobs/{job_id}/retry")
def retry(db: Db, principal: CurrentUser, job_id: int) -> Response:
    job = service.retry(db, principal, job_id)
    conv_id = job.conversation_id
    db.commit()
    return back(conv_id) if conv_id else RedirectResponse("/inbox", status_code=303)
