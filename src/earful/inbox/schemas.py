"""Pydantic shapes of the inbox: filters in, conversations out (the JSON API's schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

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


class ConversationSummary(BaseModel):
    id: int
    brand_id: int
    brand: str
    status: str
    subject: str | None
    customer_handle: str | None
    customer_name: str | None
    network: str | None
    sentiment: str | None
    intent: str | None
    urgency: int | None
    language: str | None
    priority: float
    waited_minutes: int
    overdue: bool
    assignee_id: int | None
    assignee: str | None
    tags: list[str]
    last_post_at: datetime
    post_count: int
    version: int


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


class NoteOut(BaseModel):
    id: int
    text: str
    author: str | None
    created_at: datetime


class ReplyOut(BaseModel):
    id: int
    text: str
    status: str
    author: str | None
    hold_reason: str | None
    created_at: datetime


class OtherConversation(BaseModel):
    id: int
    brand: str
    status: str
    subject: str | None
    last_post_at: datetime
    network: str


class CustomerOut(BaseModel):
    name: str | None
    email_known: bool
    identities: list[dict[str, str | None]]
    other_conversations: list[OtherConversation]


class ConversationOut(BaseModel):
    summary: ConversationSummary
    posts: list[PostOut]
    notes: list[NoteOut]
    replies: list[ReplyOut]
    customer: CustomerOut


class AssignIn(BaseModel):
    assignee: str = Field(description="me, none or a user id", max_length=20)


class StatusIn(BaseModel):
    status: Literal["new", "open", "waiting", "resolved"]


class TextIn(BaseModel):
    text: str = Field(min_length=1, max_length=5000)


class TagIn(BaseModel):
    tag: str = Field(min_length=1, max_length=64)


class ReplyIn(BaseModel):
    text: str = Field(min_length=1, max_length=5000)
    version: int = Field(description="the conversation version the agent saw")


class ReplyResult(BaseModel):
    reply: ReplyOut
    held: bool
    version: int


class VersionIn(BaseModel):
    version: int = Field(description="the conversation version the agent has now read")


class AlertOut(BaseModel):
    """An open spike alert, as the inbox, the live feed and the dashboard show it."""

    id: int | None
    brand_id: int | None
    opened_at: datetime | None
    title: str


def alert_out(row: dict[str, object]) -> AlertOut:
    """A row of the alerts table (whatever columns this build has) in words."""
    kind = str(row.get("kind") or "spike")
    observed, expected = row.get("observed"), row.get("expected")
    title = f"{kind} spike"
    if isinstance(observed, int) and isinstance(expected, int | float):
        title += f": {observed} posts in the window, {expected:.1f} expected"
    opened = next(
        (v for k in ("window_start", "created_at") if isinstance(v := row.get(k), datetime)),
        None,
    )
    ident, brand = row.get("id"), row.get("brand_id")
    return AlertOut(
        id=ident if isinstance(ident, int) else None,
        brand_id=brand if isinstance(brand, int) else None,
        opened_at=opened,
        title=title,
    )
