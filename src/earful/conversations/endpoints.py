"""Conversation work: assignment, status, notes and tags, as form posts and JSON.

Each HTML route and its JSON twin call the same service function; they differ only
in what they render. The request's transaction commits in the DB dependency.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from earful.conversations import corrections, service
from earful.conversations.schemas import (
    AssignIn,
    ConversationSummary,
    CorrectionIn,
    CorrectionOut,
    NoteOut,
    StatusIn,
    TagIn,
    TextIn,
)
from earful.web.deps import CurrentUser, Db
from earful.web.hub import publish_change
from earful.web.render import back_to_conversation

html = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["conversations"])


@html.post("/c/{conv_id}/assign")
def assign(
    request: Request,
    db: Db,
    principal: CurrentUser,
    conv_id: int,
    assignee: Annotated[str, Form(max_length=20)],
) -> Response:
    st = service.assign(db, principal, conv_id, assignee)
    publish_change(request, db, st.brand_id, conv_id, "assign")
    return back_to_conversation(conv_id)


@html.post("/c/{conv_id}/status")
def set_status(
    request: Request,
    db: Db,
    principal: CurrentUser,
    conv_id: int,
    status: Annotated[str, Form(max_length=16)],
) -> Response:
    st = service.set_status(db, principal, conv_id, status)
    publish_change(request, db, st.brand_id, conv_id, "status")
    return back_to_conversation(conv_id)


@html.post("/c/{conv_id}/notes")
def add_note(
    request: Request,
    db: Db,
    principal: CurrentUser,
    conv_id: int,
    text: Annotated[str, Form(max_length=5000)],
) -> Response:
    note = service.add_note(db, principal, conv_id, text)
    publish_change(request, db, note.brand_id, conv_id, "note")
    return back_to_conversation(conv_id, "#notes")


@html.post("/c/{conv_id}/tags")
def add_tag(
    request: Request,
    db: Db,
    principal: CurrentUser,
    conv_id: int,
    tag: Annotated[str, Form(max_length=64)],
) -> Response:
    conv = service.add_tag(db, principal, conv_id, tag)
    publish_change(request, db, conv.brand_id, conv_id, "tag")
    return back_to_conversation(conv_id)


@html.post("/c/{conv_id}/tags/remove")
def remove_tag(
    request: Request,
    db: Db,
    principal: CurrentUser,
    conv_id: int,
    tag: Annotated[str, Form(max_length=64)],
) -> Response:
    conv = service.remove_tag(db, principal, conv_id, tag)
    publish_change(request, db, conv.brand_id, conv_id, "tag")
    return back_to_conversation(conv_id)


@api.post("/conversations/{conv_id}/assign", response_model=ConversationSummary)
def api_assign(
    request: Request, db: Db, principal: CurrentUser, conv_id: int, body: AssignIn
) -> ConversationSummary:
    st = service.assign(db, principal, conv_id, body.assignee)
    publish_change(request, db, st.brand_id, conv_id, "assign")
    return service.summary_of(db, principal, conv_id)


@api.post("/conversations/{conv_id}/status", response_model=ConversationSummary)
def api_status(
    request: Request, db: Db, principal: CurrentUser, conv_id: int, body: StatusIn
) -> ConversationSummary:
    st = service.set_status(db, principal, conv_id, body.status)
    publish_change(request, db, st.brand_id, conv_id, "status")
    return service.summary_of(db, principal, conv_id)


@api.post("/conversations/{conv_id}/notes", response_model=NoteOut, status_code=201)
def api_note(
    request: Request, db: Db, principal: CurrentUser, conv_id: int, body: TextIn
) -> NoteOut:
    note = service.add_note(db, principal, conv_id, body.text)
    publish_change(request, db, note.brand_id, conv_id, "note")
    return NoteOut(id=note.id, text=note.text, author=principal.name, created_at=note.created_at)


@api.post("/conversations/{conv_id}/tags", response_model=ConversationSummary)
def api_tag(
    request: Request, db: Db, principal: CurrentUser, conv_id: int, body: TagIn
) -> ConversationSummary:
    conv = service.add_tag(db, principal, conv_id, body.tag)
    publish_change(request, db, conv.brand_id, conv_id, "tag")
    return service.summary_of(db, principal, conv_id)


@api.delete("/conversations/{conv_id}/tags/{tag}", response_model=ConversationSummary)
def api_untag(
    request: Request, db: Db, principal: CurrentUser, conv_id: int, tag: str
) -> ConversationSummary:
    conv = service.remove_tag(db, principal, conv_id, tag)
    publish_change(request, db, conv.brand_id, conv_id, "tag")
    return service.summary_of(db, principal, conv_id)


@html.post("/c/{conv_id}/posts/{post_id}/labels")
def correct_label(
    request: Request,
    db: Db,
    principal: CurrentUser,
    conv_id: int,
    post_id: int,
    field: Annotated[str, Form(max_length=16)],
    value: Annotated[str, Form(max_length=16)],
) -> Response:
    row = corrections.correct(db, principal, conv_id, post_id, field, value)
    publish_change(request, db, row.brand_id, conv_id, "labels")
    return back_to_conversation(conv_id, f"#post-{post_id}")


@api.post(
    "/conversations/{conv_id}/posts/{post_id}/labels",
    response_model=CorrectionOut,
    status_code=201,
)
def api_correct_label(
    request: Request, db: Db, principal: CurrentUser, conv_id: int, post_id: int, body: CorrectionIn
) -> CorrectionOut:
    row = corrections.correct(db, principal, conv_id, post_id, body.field, body.value)
    publish_change(request, db, row.brand_id, conv_id, "labels")
    return CorrectionOut(
        post_id=row.post_id,
        field=row.field,
        old_value=row.old_value,
        new_value=row.new_value,
        by=principal.name,
        at=row.created_at,
    )
