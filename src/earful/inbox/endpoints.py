"""The agent's workspace: the inbox list, saved views, the conversation page (which
composes the thread, the customer, notes, replies and the engagement panel), and the
live event stream. HTML for agents, JSON for integrations, from the same services."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import (
    HTMLResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.concurrency import run_in_threadpool

from earful.alerts import repository as alerts_repo
from earful.alerts.schemas import alert_out
from earful.auth.service import Principal
from earful.brands import repository as brands_repo
from earful.conversations import repository as conversations_repo
from earful.conversations.schemas import NoteOut
from earful.conversations.service import access_conversation
from earful.customers import service as customers
from earful.customers.schemas import CustomerOut, OtherConversation
from earful.db import transaction
from earful.engagement import acknowledge, compose, replies
from earful.engagement import repository as engagement_repo
from earful.engagement import service as engagement
from earful.errors import NotAuthenticated
from earful.handoff import service as handoff_service
from earful.inbox import repository as repo
from earful.inbox import service
from earful.inbox.live import Tail
from earful.inbox.schemas import (
    ConversationOut,
    InboxFilters,
    InboxPageOut,
    PostOut,
)
from earful.models import (
    Role,
)
from earful.models.base import utcnow
from earful.web.deps import CurrentUser, Db, optional_principal
from earful.web.hub import CLOSED, Cursor, Hub, Item, hub_of, sse_frame
from earful.web.render import TEMPLATES, render

html = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["inbox"])

Filters = Annotated[InboxFilters, Query()]
Keepalive = 15.0


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
        "brands": brands_repo.readable(db, brand_ids),
        "views": repo.saved_views(db, principal.user_id),
        "tags": conversations_repo.brand_tags(db, brand_ids),
        **_alerts_context(db, principal),
    }


def _alerts_context(db: Db, principal: Principal) -> dict[str, object]:
    brand_ids = principal.brand_ids()
    return {
        "alerts": [alert_out(a) for a in alerts_repo.open_alerts(db, brand_ids)],
        "ack_brands": set(principal.brand_ids(Role.AGENT)),
    }


@html.get("/inbox", response_class=HTMLResponse)
def inbox_page(request: Request, db: Db, principal: CurrentUser, filters: Filters) -> Response:
    return render(request, "inbox.html", _inbox_context(db, principal, filters))


@html.get("/inbox/alerts", response_class=HTMLResponse)
def inbox_alerts(request: Request, db: Db, principal: CurrentUser) -> Response:
    """The banner of open spike alerts, fetched again when one is raised or acknowledged."""
    return render(request, "_alerts.html", _alerts_context(db, principal))


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
    return RedirectResponse(f"/views/{saved.id}", status_code=303)


@html.get("/views/{view_id}")
def open_view(db: Db, principal: CurrentUser, view_id: int) -> Response:
    saved = service.access_saved_view(db, principal, view_id)
    return RedirectResponse("/inbox?" + urlencode(saved.filters), status_code=303)


@html.post("/views/{view_id}/delete")
def delete_view(db: Db, principal: CurrentUser, view_id: int) -> Response:
    service.delete_view(db, principal, view_id)
    return RedirectResponse("/inbox", status_code=303)


# ------------------------------------------------------------------ HTML: conversation


@html.get("/c/{conv_id}", response_class=HTMLResponse)
def conversation_page(request: Request, db: Db, principal: CurrentUser, conv_id: int) -> Response:
    v = service.view(db, principal, conv_id)
    return render(request, "conversation.html", {"v": v, "seen": v.state.version})


@html.get("/c/{conv_id}/activity", response_class=HTMLResponse)
def conversation_activity(
    request: Request, db: Db, principal: CurrentUser, conv_id: int, seen: int = 0
) -> Response:
    v = service.view(db, principal, conv_id)
    return render(request, "_activity.html", {"v": v, "seen": seen})


@html.post("/c/{conv_id}/typing", status_code=204)
def typing(request: Request, db: Db, principal: CurrentUser, conv_id: int) -> Response:
    conv = access_conversation(db, principal, conv_id, Role.AGENT)
    h = hub_of(request)
    h.typing(conv.id, principal.user_id, principal.name)
    _publish_presence(request, h, conv.brand_id, conv.id)
    return Response(status_code=204)


def _publish_presence(request: Request, h: Hub, brand_id: int, conv_id: int) -> None:
    fragment = TEMPLATES.get_template("_presence.html").render(
        present=h.present(conv_id), conv_id=conv_id
    )
    h.publish(brand_id, f"presence-{conv_id}", fragment, conversation=conv_id)


# ------------------------------------------------------------------ HTML: canned replies


# ------------------------------------------------------------------ live (SSE)


@html.get("/events")
async def events(
    request: Request,
    conversation: int | None = None,
    ttl: float = Query(300.0, gt=0, le=3600),
    last: str | None = None,
) -> Response:
    """Server-sent events of the caller's brands (and presence on one conversation).

    A stream reopened with the id of the last event it was sent (the browser's own
    ``Last-Event-ID``, or ``last`` when the page had to open a new stream) is first sent the
    alerts and notifications it missed; a fresh one starts from now, as its page does."""

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
    asked = Cursor.parse(request.headers.get("last-event-id")) or Cursor.parse(last)
    h = hub_of(request)
    sub = h.subscribe(principal.brand_ids(), principal.user_id, conversation)
    try:  # read after subscribing: what the tail publishes from now on reaches ``sub``
        now, missed = await run_in_threadpool(_missed, request, principal, asked)
    except BaseException:
        h.unsubscribe(sub)
        raise
    if conversation is not None and conv_brand is not None:
        h.join(conversation, principal.user_id, principal.name)
        _publish_presence(request, h, conv_brand, conversation)

    async def stream() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ttl
        sent = asked or now
        try:
            yield "retry: 2000\n\n"
            for item in missed:
                sent = sent.past(item)
                yield sse_frame(item.event, item.data, str(sent))
            # On to what the tail has published: rows past the replay's cap are passed over.
            sent = sent.merged(now)
            # An id from the start: a page sent no notification yet still comes back with one.
            yield sse_frame("cursor", str(sent), str(sent))
            while (left := deadline - loop.time()) > 0:
                try:
                    item = await asyncio.wait_for(sub.next(), min(Keepalive, left))
                except TimeoutError:
                    yield ": keepalive\n\n"
                    continue
                if item == CLOSED:  # the server is stopping; the browser reconnects
                    return
                if not item.row:
                    yield sse_frame(item.event, item.data)
                elif not sent.covers(item):  # else replayed before the tail published it
                    sent = sent.past(item)
                    yield sse_frame(item.event, item.data, str(sent))
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


def _missed(
    request: Request, principal: Principal, asked: Cursor | None
) -> tuple[Cursor, list[Item]]:
    """How far the live tail has published, and what a stream reopened at ``asked`` missed
    before that (nothing for a fresh stream: its page was drawn from the database)."""
    tail: Tail = request.app.state.tail
    with transaction(request.app.state.engine) as db:
        now = tail.published(db)
        if asked is None:
            return now, []
        return now, tail.missed(db, principal.brand_ids(), principal.user_id, asked)


# ------------------------------------------------------------------ JSON API


@api.get("/conversations", response_model=InboxPageOut)
def api_inbox(db: Db, principal: CurrentUser, filters: Filters) -> InboxPageOut:
    page = service.inbox(db, principal, filters)
    return InboxPageOut(conversations=page.rows, page=page.page, has_more=page.has_more)


@api.get("/conversations/{conv_id}", response_model=ConversationOut)
def api_conversation(db: Db, principal: CurrentUser, conv_id: int) -> ConversationOut:
    v = service.view(db, principal, conv_id)
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
                labeled_by=service.labeled_by(p, v.corrections.get(p.id, [])),
            )
            for p in v.posts
        ],
        notes=[
            NoteOut(id=n.id, text=n.text, author=a, created_at=n.created_at) for n, a in v.notes
        ],
        replies=[replies.reply_out(r, a) for r, a in v.replies],
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


@html.get("/c/{conv_id}/engage", response_class=HTMLResponse)
def engage(request: Request, db: Db, principal: CurrentUser, conv_id: int) -> Response:
    """The engagement panel (loaded into the conversation page)."""
    conv = access_conversation(db, principal, conv_id)
    customer = customers.customer_of(db, conv)
    post = engagement_repo.target_post(db, conv.id)
    expect = acknowledge.expectation(db, principal, conv_id, utcnow())
    ctx: dict[str, Any] = {
        "conv_id": conv.id,
        "can_act": principal.roles.get(conv.brand_id, Role.VIEWER).rank >= Role.AGENT.rank,
        "jobs": engagement.conversation_jobs(db, principal, conv_id),
        "handoffs": handoff_service.conversation_handoffs(db, principal, conv_id),
        "customer": customer,
        "channels": customers.CHANNELS,
        "handoff_channels": handoff_service.CHANNELS,
        "network": post.network if post else None,
        "limit": compose.limit_for(post.network) if post else None,
        "expect": expect,
    }
    return render(request, "_engage.html", ctx)
