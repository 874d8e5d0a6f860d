"""Pydantic shapes of the inbox: filters in, conversations out (the JSON API's schema)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


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


class LinkIn(BaseModel):
    network: str
    account: str


class AccountOut(BaseModel):
    id: int
    network: str
    handle: str | None
    external_id: str


class SuggestionOut(BaseModel):
    id: int
    identity_id: int
    other_id: int
    reason: str
    state: str
