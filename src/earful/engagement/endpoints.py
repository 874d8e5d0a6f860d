"""Engagement from the conversation view: replies (with the collision hold), saved
replies, compliments, asking for the preferred channel, the character counter, and the
outbound jobs' state and retry.

Every route reaches brand data through the services, which go through ``access_*``:
another brand's ids answer 404. Form fields are optional here and checked by the
services *after* access, so a foreign id is a 404, never a 422 that confirms it exists.
Each HTML route and its JSON twin call the same service function.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from earful.brands.service import access_brand
from earful.conversations import repository as conversations_repo
from earful.engagement import replies, saved_replies, service
from earful.engagement import repository as repo
from earful.engagement.schemas import ReplyIn, ReplyResult, VersionIn
from earful.models import Role
from earful.web.deps import CurrentUser, Db
from earful.web.hub import publish_change
from earful.web.render import back_to_conversation, render

html = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["engagement"])


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
    return back_to_conversation(conv_id, "#engage")


@html.post("/c/{conv_id}/ask-channel")
def ask_channel(db: Db, principal: CurrentUser, conv_id: int) -> Response:
    service.ask_preferred_channel(db, principal, conv_id)
    return back_to_conversation(conv_id, "#engage")


@html.post("/jobs/{job_id}/retry")
def retry(db: Db, principal: CurrentUser, job_id: int) -> Response:
    job = service.retry(db, principal, job_id)
    conv_id = job.conversation_id
    return (
        back_to_conversation(conv_id, "#engage")
        if conv_id
        else RedirectResponse("/inbox", status_code=303)
    )


@html.post("/c/{conv_id}/reply")
def reply(
    request: Request,
    db: Db,
    principal: CurrentUser,
    conv_id: int,
    text: Annotated[str, Form(max_length=5000)],
    version: Annotated[int, Form()],
) -> Response:
    sent, st = replies.queue_reply(db, principal, conv_id, text, version)
    if sent.status.value != "held":
        publish_change(request, db, st.brand_id, conv_id, "reply")
    return back_to_conversation(conv_id, "#replies")


@html.post("/replies/{reply_id}/send")
def send_held(
    request: Request,
    db: Db,
    principal: CurrentUser,
    reply_id: int,
    version: Annotated[int, Form()],
) -> Response:
    sent, st = replies.release_reply(db, principal, reply_id, version)
    publish_change(request, db, st.brand_id, sent.conversation_id, "reply")
    return back_to_conversation(sent.conversation_id, "#replies")


@html.post("/replies/{reply_id}/discard")
def discard_held(db: Db, principal: CurrentUser, reply_id: int) -> Response:
    dropped = replies.discard_reply(db, principal, reply_id)
    return back_to_conversation(dropped.conversation_id, "#replies")


@html.get("/c/{conv_id}/canned/{canned_id}", response_class=HTMLResponse)
def canned_text(
    request: Request, db: Db, principal: CurrentUser, conv_id: int, canned_id: int
) -> Response:
    _, text = saved_replies.canned_for(db, principal, conv_id, canned_id)
    return render(request, "_reply_text.html", {"text": text})


@html.get("/brands/{slug}/canned", response_class=HTMLResponse)
def canned_page(request: Request, db: Db, principal: CurrentUser, slug: str) -> Response:
    brand = access_brand(db, principal, slug)
    return render(
        request,
        "canned.html",
        {
            "brand": brand,
            "canned": repo.canned_replies(db, [brand.id]),
            "is_admin": principal.roles[brand.id] == Role.ADMIN,
        },
    )


@html.post("/brands/{slug}/canned")
def create_canned(
    db: Db,
    principal: CurrentUser,
    slug: str,
    name: Annotated[str, Form(max_length=100)],
    body: Annotated[str, Form(max_length=5000)],
) -> Response:
    saved_replies.create_canned(db, principal, slug, name, body)
    return RedirectResponse(f"/brands/{slug}/canned", status_code=303)


@html.post("/canned/{canned_id}/delete")
def delete_canned(db: Db, principal: CurrentUser, canned_id: int) -> Response:
    saved_replies.delete_canned(db, principal, canned_id)
    return RedirectResponse("/inbox", status_code=303)


@api.post("/conversations/{conv_id}/replies", response_model=ReplyResult)
def api_reply(
    request: Request, db: Db, principal: CurrentUser, conv_id: int, body: ReplyIn
) -> ReplyResult:
    """Queue a reply. ``held`` is true when the conversation changed after ``version``."""
    sent, st = replies.queue_reply(db, principal, conv_id, body.text, body.version)
    held = sent.status.value == "held"
    if not held:
        publish_change(request, db, st.brand_id, conv_id, "reply")
    return ReplyResult(reply=replies.reply_out(sent, principal.name), held=held, version=st.version)


@api.post("/replies/{reply_id}/send", response_model=ReplyResult)
def api_send_held(
    request: Request, db: Db, principal: CurrentUser, reply_id: int, body: VersionIn
) -> ReplyResult:
    sent, st = replies.release_reply(db, principal, reply_id, body.version)
    publish_change(request, db, st.brand_id, sent.conversation_id, "reply")
    return ReplyResult(
        reply=replies.reply_out(sent, principal.name), held=False, version=st.version
    )


@api.post("/replies/{reply_id}/discard", response_model=ReplyResult)
def api_discard(db: Db, principal: CurrentUser, reply_id: int) -> ReplyResult:
    dropped = replies.discard_reply(db, principal, reply_id)
    st = conversations_repo.state(db, dropped.conversation_id)
    return ReplyResult(
        reply=replies.reply_out(dropped, principal.name),
        held=False,
        version=st.version if st else 0,
    )
