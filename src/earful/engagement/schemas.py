"""Pydantic shapes of the inbox: filters in, conversations out (the JSON API's schema)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class ReplyOut(BaseModel):
    id: int
    text: str
    status: str
    author: str | None
    hold_reason: str | None
    created_at: datetime


class ReplyIn(BaseModel):
    text: str = Field(min_length=1, max_length=5000)
    version: int = Field(description="the conversation version the agent saw")


class ReplyResult(BaseModel):
    reply: ReplyOut
    held: bool
    version: int


class VersionIn(BaseModel):
    version: int = Field(description="the conversation version the agent has now read")
