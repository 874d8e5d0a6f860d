"""Pydantic shapes of the inbox: filters in, conversations out (the JSON API's schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


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
    waiting: bool = Field(description="the customer is waiting for the brand's answer")
    target_minutes: int = Field(description="the target of its priority, else the brand's")
    sla: str = Field(
        description='the service-level clock in words: "due in 12 min", "overdue 3 h", "answered"'
    )
    assignee_id: int | None
    assignee: str | None
    tags: list[str]
    last_post_at: datetime
    post_count: int
    version: int


class NoteOut(BaseModel):
    id: int
    text: str
    author: str | None
    created_at: datetime


class AssignIn(BaseModel):
    assignee: str = Field(description="me, none or a user id", max_length=20)


class StatusIn(BaseModel):
    status: Literal["new", "open", "waiting", "resolved"]


class TextIn(BaseModel):
    text: str = Field(min_length=1, max_length=5000)


class TagIn(BaseModel):
    tag: str = Field(min_length=1, max_length=64)


class CorrectionIn(BaseModel):
    field: Literal["sentiment", "intent", "urgency"]
    value: str = Field(
        max_length=16,
        description="sentiment: negative, neutral, positive; intent: complaint, question, "
        "compliment, other; urgency: 0-4",
    )


class CorrectionOut(BaseModel):
    post_id: int
    field: str
    old_value: str | None
    new_value: str
    by: str | None = Field(description="the agent who corrected the label")
    at: datetime
