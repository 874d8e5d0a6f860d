"""Pydantic shapes of the inbox: filters in, conversations out (the JSON API's schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from earful.conversations.schemas import ConversationSummary, NoteOut
from earful.customers.schemas import CustomerOut
from earful.engagement.schemas import ReplyOut

StatusFilter = Literal["active", "new", "open", "waiting", "resolved", "all"]
STATUS_SETS: dict[str, list[str]] = {
    "active": ["new", "open"],
    "new": ["new"],
    "open": ["open"],
    "waiting": ["waiting"],
    "resolved": ["resolved"],
    "all": [],
}


class InboxFilters(BaseModel):
    status: StatusFilter = "active"
    brand: str | None = Field(default=None, max_length=64)
    network: str | None = Field(default=None, max_length=32)
    sentiment: str | None = Field(default=None, max_length=16)
    intent: str | None = Field(default=None, max_length=16)
    language: str | None = Field(default=None, max_length=16)
    assignee: str | None = Field(default=None, max_length=20, description="me, none or a user id")
    tag: str | None = Field(default=None, max_length=64)
    q: str | None = Field(default=None, max_length=200, description="full-text search")
    page: int = Field(default=1, ge=1, le=1000)

    def as_query_dict(self) -> dict[str, str]:
        return {
            k: str(v)
            for k, v in self.model_dump().items()
            if v not in (None, "") and not (k == "status" and v == "active") and k != "page"
        }


class InboxPageOut(BaseModel):
    conversations: list[ConversationSummary]
    page: int
    has_more: bool


class PostOut(BaseModel):
    id: int
    network: str
    text: str
    created_at: datetime
    from_brand: bool
    author_handle: str | None
    author_name: str | None
    sentiment: str | None
    sentiment_score: float | None
    intent: str | None
    intent_score: float | None
    urgency: int | None
    language: str | None
    labeled_by: dict[str, str] = Field(
        default_factory=dict,
        description='per label (sentiment, intent, urgency): "agent" (a correction), '
        '"second tier" (the transformer, after the commit) or "fast tier"',
    )


class ConversationOut(BaseModel):
    summary: ConversationSummary
    posts: list[PostOut]
    notes: list[NoteOut]
    replies: list[ReplyOut]
    customer: CustomerOut
