"""The customer's contact details from the conversation view: the preferred channel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import Response

from earful.customers import service
from earful.web.deps import CurrentUser, Db
from earful.web.render import back_to_conversation

html = APIRouter(include_in_schema=False)


@html.post("/c/{conv_id}/preferred-channel")
def preferred_channel(
    db: Db,
    principal: CurrentUser,
    conv_id: int,
    channel: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
) -> Response:
    service.set_preferred_channel(db, principal, conv_id, channel, email or None)
    return back_to_conversation(conv_id, "#engage")
