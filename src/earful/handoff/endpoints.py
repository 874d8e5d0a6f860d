"""Handing a conversation off to email, a helpdesk, a DM or a webhook, from its page."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import Response

from earful.conversations.service import access_conversation
from earful.errors import BadInput
from earful.handoff import service as handoff_service
from earful.handoff.config import HandoffSettings
from earful.models import Role
from earful.web.deps import CurrentUser, Db
from earful.web.render import back_to_conversation

html = APIRouter(include_in_schema=False)


@lru_cache(maxsize=1)
def handoff_settings() -> HandoffSettings:
    return HandoffSettings()


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
    return back_to_conversation(conv_id, "#engage")
