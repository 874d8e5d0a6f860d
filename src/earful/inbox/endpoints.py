"""Inbox routes: the HTML app agents use and the JSON API integrations use."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from earful.auth.access import access_brand, access_conversation
from earful.auth.service import Principal
from earful.db import transaction
from earful.errors import NotAuthenticated, NotFound
from earful.inbox import repository as repo
from earful.inbox import service
from earful.inbox.live import CLOSED, Hub, sse_frame
from earful.inbox.schemas import (
    AssignIn,
    ConversationOut,
    ConversationSummary,
    CustomerOut,
    InboxFilters,
    InboxPageOut,
    NoteOut,
    OtherConversation,
    PostOut,
    ReplyIn,
    ReplyResult,
    StatusIn,
    TagIn,
    TextIn,
    VersionIn,
    alert_out,
)
from earful.models import Role
from earful.web.deps import CurrentUser, Db, optional_principal
from earful.web.render import TEMPLATES, render

html = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["inbox"])

Filters = Annotated[InboxFilters, Query()]
Keepalive = 15.0


def hub(request: Request) -> Hub:
    h: Hub = request.app.state.hub
    return h


def changed(request: Request, brand_id: int, conv_id: int, kind: str) -> None:
    """After a commit: tell the brand's open inboxes and this conversation's viewers."""
    h = hub(request)
    h.publish(brand_id, "inbox", str(conv_id))
    h.publish(brand_id, f"conv-{conv_id}", kind)


def back(conv_id: int, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"/c/{conv_id}{anchor}", status_code=303)


# ------------------------------------------------------------------ HTML: inbox


@html.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/inbox", status_code=303)


def _inbox_context(db: Db, principal: Principal, filters: InboxFilters) -> dict[str, object]:
    page = service.inbox(db, principal, filters)
    brand_ids = principal.brand_ids()
    return {
        "page": page,
        "filters": filters,
        "query": filters.as_query_dict(),
        "next_url": "/inbox?"
        + urlencode({**filters.as_query_dict(), "page": str(filters.page + 1)}),
        "prev_url": "/inbox?"
        + urlencode({**filters.as_query_dict(), "page": str(max(1, filters.page - 1))}),
        "brands": repo.brands(db, brand_ids),
        "views": repo.saved_views(db, principal.user_id),
        "tags": repo.brand_tags(db, brand_ids),
        "alerts": [alert_out(a) for a in repo.open_alerts(db, brand_ids)],
    }


@html.get("/inbox", response_class=HTMLResponse)
def inbox_page(request: Request, db: Db, principal: CurrentUser, filters: Filters) -> Response:
    return render(request, "inbox.html", _inbox_context(db, principal, filters))


@html.get("/inbox/list", response_class=HTMLResponse)
def inbox_list(request: Request, db: Db, principal: CurrentUser, filters: Filters) -> Response:
    page = service.inbox(db, principal, filters)
    return render(request, "_inbox_rows.html", {"page": page})


@html.post("/views")
def create_view(
    db: Db,
    principal: CurrentUser,
    name: Annotated[str, Form(max_length=100)],
    filters: Annotated[InboxFilters, Form()],
) -> Response:
    saved = service.save_view(db, principal, name, filters)
    db.commit()
    return RedirectResponse(f"/views/{saved.id}", status_code=303)


@html.get("/views/{view_id}")
def open_view(db: Db, principal: CurrentUser, view_id: int) -> Response:
    saved = repo.saved_view(db, view_id, principal.user_id)
    if saved is None:
        raise NotFound("no such view")
    return RedirectResponse("/inbox?" + urlencode(saved.filters), status_code=303)


@html.post("/views/{view_id}/delete")
def delete_view(db: Db, principal: CurrentUser, view_id: int) -> Response:
    service.delete_view(db, principal, view_id)
    db.commit()
    return RedirectResponse("/inbox", status_code=303)


# ------------------------------------------------------------------ HTML: conversation


@html.get("/c/{conv_id}", response_class=HTMLResponse)
def conversation_page(request: Request, db: Db, principal: CurrentUser, conv_id: int) -> Response:
    v = service.view(db, principal, conv_id)
    db.commit()  # a state row created on first view
    return render(request, "conversation.html", {"v": v, "seen": v.state.version})


@html.get("/c/{conv_id}/activity", response_class=HTMLResponse)
def conversation_activity(
    request: Request, db: Db, principal: CurrentUser, conv_id: int, seen: int = 0
) -> Response:
    v = service.view(db, principal, conv_id)
    return render(request, "_activity.html", {"v": v, "seen": seen})


@html.post("/c/{conv_id}/assign")
def assign(
    request: Request,
    db: Db,
    principal: CurrentUser,
    conv_id: int,
    assignee: Annotated[str, Form(max_length=20)],
) -> Response:
    st = service.assign(db, principal, conv_id, assignee)
    db.commit()
    changed(request, st.brand_id, conv_id, "assign")
    return back(conv_id)


@html.post("/c/{conv_id}/status")
def set_status(
    request: Request,
    db: Db,
    principal: CurrentUser,
    conv_id: int,
    status: Annotated[str, Form(max_length=16)],
) -> Response:
    st = service.set_status(db, principal, conv_id, status)
    db.commit()
    changed(request, st.brand_id, conv_id, "status")
    return back(conv_id)


@html.post("/c/{conv_id}/notes")
def add_note(
    request: Request,
    db: Db,
    principal: CurrentUser,
    conv_id: int,
    text: Annotated[str, Form(max_length=5000)],
) -> Response:
    note = service.add_note(db, principal, conv_id, text)
    db.commit()
    changed(request, note.brand_id, conv_id, "note")
    return back(conv_id, "#notes")


@html.post("/c/{conv_id}/tags")
def add_tag(
    request: Request,
    db: Db,
    principal: CurrentUser,
    conv_id: int,
    tag: Annotated[str, Form(max_length=64)],
) -> Response:
    conv = service.add_tag(db, principal, conv_id, tag)
    db.commit()
    changed(request, conv.brand_id, conv_id, "tag")
    return back(conv_id)


@html.post("/c/{conv_id}/tags/remove")
def remove_tag(
    request: Request,
    db: Db,
    principal: CurrentUser,
    conv_id: int,
    tag: Annotated[str, Form(max_length=64)],
) -> Response:
    conv = service.remove_tag(db, principal, conv_id, tag)
    db.commit()
    changed(request, conv.brand_id, conv_id, "tag")
    return back(conv_id)


@html.post("/c/{conv_id}/reply")
def reply(
    request: Request,
    db: Db,
    principal: CurrentUser,
    conv_id: int,
    text: Annotated[str, Form(max_length=5000)],
    version: Annotated[int, Form()],
) -> Response:
    sent, st = service.queue_reply(db, principal, conv_id, text, version)
    db.commit()
    if sent.status.value != "held":
        changed(request, st.brand_id, conv_id, "reply")
    return back(conv_id, "#replies")


@html.post("/replies/{reply_id}/send")
def send_held(
    request: Request,
    db: Db,
    principal: CurrentUser,
    reply_id: int,
    version: Annotated[int, Form()],
) -> Response:
    sent, st = service.release_reply(db, principal, reply_id, version)
    db.commit()
    changed(request, st.brand_id, sent.conversation_id, "reply")
    return back(sent.conversation_id, "#replies")


@html.post("/replies/{reply_id}/discard")
def discard_held(db: Db, principal: CurrentUser, reply_id: int) -> Response:
    dropped = service.discard_reply(db, principal, reply_id)
    db.commit()
    return back(dropped.conversation_id, "#replies")


@html.get("/c/{conv_id}/canned/{canned_id}", response_class=HTMLResponse)
def canned_text(
    request: Request, db: Db, principal: CurrentUser, conv_id: int, canned_id: int
) -> Response:
    _, text = service.canned_for(db, principal, conv_id, canned_id)
    return render(request, "_reply_text.html", {"text": text})


@html.post("/c/{conv_id}/typing", status_code=204)
def typing(request: Request, db: Db, principal: CurrentUser, conv_id: int) -> Response:
    conv = access_conversation(db, principal, conv_id, Role.AGENT)
    h = hub(request)
    h.typing(conv.id, principal.user_id, principal.name)
    _publish_presence(request, h, conv.brand_id, conv.id)
    return Response(status_code=204)


def _publish_presence(request: Request, h: Hub, brand_id: int, conv_id: int) -> None:
    fragment = TEMPLATES.get_template("_presence.html").render(
        present=h.present(conv_id), conv_id=conv_id
    )
    h.publish(brand_id, f"presence-{conv_id}", fragment)


# ------------------------------------------------------------------ HTML: canned replies


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
    service.create_canned(db, principal, slug, name, body)
    db.commit()
    return RedirectResponse(f"/brands/{slug}/canned", status_code=303)


@html.post("/canned/{canned_id}/delete")
def delete_canned(db: Db, principal: CurrentUser, canned_id: int) -> Response:
    service.delete_canned(db, principal, canned_id)
    db.commit()
    return RedirectResponse("/inbox", status_code=303)


# ------------------------------------------------------------------ live (SSE)


@html.get("/events")
async def events(
    request: Request, conversation: int | None = None, ttl: float = Query(300.0, gt=0, le=3600)
) -> Response:
    """Server-sent events of the caller's brands (and presence on one conversation)."""

    def who() -> tuple[Principal, int | None]:
        with transaction(request.app.state.engine) as db:
            principal = optional_principal(request, db)
            if principal is None:
                raise NotAuthenticated()
            brand = None
            if conversation is not None:
                brand = access_conversation(db, principal, conversation).brand_id
            return principal, brand

    principal, conv_brand = await run_in_threadpool(who)
    h = hub(request)
    sub = h.subscribe(principal.brand_ids())
    if conversation is not None and conv_brand is not None:
        h.join(conversation, principal.user_id, principal.name)
        _publish_presence(request, h, conv_brand, conversation)

    async def stream() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ttl
        try:
            yield "retry: 2000\n\n"
            while (left := deadline - loop.time()) > 0:
                try:
                    event, data = await asyncio.wait_for(sub.queue.get(), min(Keepalive, left))
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if (event, data) == CLOSED:  # the server is stopping; the browser reconnects
                    return
                yield sse_frame(event, data)
        finally:
            h.unsubscribe(sub)
            if conversation is not None and conv_brand is not None:
                h.leave(conversation, principal.user_id)
                _publish_presence(request, h, conv_brand, conversation)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# ------------------------------------------------------------------ JSON API


@api.get("/conversations", response_model=InboxPageOut)
def api_inbox(db: Db, principal: CurrentUser, filters: Filters) -> InboxPageOut:
    page = service.inbox(db, principal, filters)
    return InboxPageOut(conversations=page.rows, page=page.page, has_more=page.has_more)


@api.get("/conversations/{conv_id}", response_model=ConversationOut)
def api_conversation(db: Db, principal: CurrentUser, conv_id: int) -> ConversationOut:
    v = service.view(db, principal, conv_id)
    db.commit()
    return ConversationOut(
        summary=v.summary,
        posts=[
            PostOut(
                id=p.id,
                network=p.network,
                text=p.text,
                created_at=p.created_at,
                from_brand=p.from_brand,
                author_handle=p.handle,
                author_name=p.author_name,
                sentiment=p.sentiment,
                sentiment_score=p.sentiment_score,
                intent=p.intent,
                intent_score=p.intent_score,
                urgency=p.urgency,
                language=p.language,
            )
            for p in v.posts
        ],
        notes=[
            NoteOut(id=n.id, text=n.text, author=a, created_at=n.created_at) for n, a in v.notes
        ],
        replies=[service.reply_out(r, a) for r, a in v.replies],
        customer=CustomerOut(
            name=(v.customer.display_name if v.customer else v.identity.display_name),
            email_known=bool(v.customer and v.customer.email),
            identities=[
                {"network": i.network, "handle": i.handle, "name": i.display_name}
                for i in v.identities
            ],
            other_conversations=[
                OtherConversation(
                    id=i, brand=b, status=s, subject=subj, last_post_at=last, network=net
                )
                for i, b, s, subj, last, net in v.others
            ],
        ),
    )


def _summary(db: Db, principal: Principal, conv_id: int) -> ConversationSummary:
    return service.view(db, principal, conv_id).summary


@api.post("/conversations/{conv_id}/assign", response_model=ConversationSummary)
def api_assign(
    request: Request, db: Db, principal: CurrentUser, conv_id: int, body: AssignIn
) -> ConversationSummary:
    st = service.assign(db, principal, conv_id, body.assignee)
    db.commit()
    changed(request, st.brand_id, conv_id, "assign")
    return _summary(db, principal, conv_id)


@api.post("/conversations/{conv_id}/status", response_model=ConversationSummary)
def api_status(
    request: Request, db: Db, principal: CurrentUser, conv_id: int, body: StatusIn
) -> ConversationSummary:
    st = service.set_status(db, principal, conv_id, body.status)
    db.commit()
    changed(request, st.brand_id, conv_id, "status")
    return _summary(db, principal, conv_id)


@api.post("/conversations/{conv_id}/notes", response_model=NoteOut, status_code=201)
def api_note(
    request: Request, db: Db, principal: CurrentUser, conv_id: int, body: TextIn
) -> NoteOut:
    note = service.add_note(db, principal, conv_id, body.text)
    db.commit()
    changed(request, note.brand_id, conv_id, "note")
    return NoteOut(id=note.id, text=note.text, author=principal.name, created_at=note.created_at)


@api.post("/conversations/{conv_id}/tags", response_model=ConversationSummary)
def api_tag(
    request: Request, db: Db, principal: CurrentUser, conv_id: int, body: TagIn
) -> ConversationSummary:
    conv = service.add_tag(db, principal, conv_id, body.tag)
    db.commit()
    changed(request, conv.brand_id, conv_id, "tag")
    return _summary(db, principal, conv_id)


@api.delete("/conversations/{conv_id}/tags/{tag}", response_model=ConversationSummary)
def api_untag(
    request: Request, db: Db, principal: CurrentUser, conv_id: int, tag: str
) -> ConversationSummary:
    conv = service.remove_tag(db, principal, conv_id, tag)
    db.commit()
    changed(request, conv.brand_id, conv_id, "tag")
    return _summary(db, principal, conv_id)


@api.post("/conversations/{conv_id}/replies", response_model=ReplyResult)
def api_reply(
    request: Request, db: Db, principal: CurrentUser, conv_id: int, body: ReplyIn
) -> ReplyResult:
    """Queue a reply. ``held`` is true when the conversation changed after ``version``."""
    sent, st = service.queue_reply(db, principal, conv_id, body.text, body.version)
    db.commit()
    held = sent.status.value == "held"
    if not held:
        changed(request, st.brand_id, conv_id, "reply")
    return ReplyResult(reply=service.reply_out(sent, principal.name), held=held, version=st.version)


@api.post("/replies/{reply_id}/send", response_model=ReplyResult)
def api_send_held(
    request: Request, db: Db, principal: CurrentUser, reply_id: int, body: VersionIn
) -> ReplyResult:
    sent, st = service.release_reply(db, principal, reply_id, body.version)
    db.commit()
    changed(request, st.brand_id, sent.conversation_id, "reply")
    return ReplyResult(
        reply=service.reply_out(sent, principal.name), held=False, version=st.version
    )


@api.post("/replies/{reply_id}/discard", response_model=ReplyResult)
def api_discard(db: Db, principal: CurrentUser, reply_id: int) -> ReplyResult:
    dropped = service.discard_reply(db, principal, reply_id)
    db.commit()
    st = repo.state(db, dropped.conversation_id)
    return ReplyResult(
        reply=service.reply_out(dropped, principal.name),
        held=False,
        version=st.version if st else 0,
    )
