"""Notification choices and webhook endpoints, as the JSON API reads and writes them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from earful.models import WebhookEndpoint


class ChannelIn(BaseModel):
    address: str | None = Field(None, max_length=2000)  # email (default: yours) or chat URL
    events: list[str] = Field(default_factory=list, max_length=3)


class ChannelOut(BaseModel):
    address: str | None
    events: list[str]
    failures: int
    last_error: str | None
    suspended: bool


class PreferencesIn(BaseModel):
    channels: dict[str, ChannelIn] = Field(default_factory=dict, max_length=3)
    quiet_start: str | None = Field(None, max_length=5)
    quiet_end: str | None = Field(None, max_length=5)
    timezone: str = Field("UTC", max_length=64)
    quiet_mode: str = Field("hold", max_length=8)


class PreferencesOut(BaseModel):
    brand: str
    channels: dict[str, ChannelOut]
    quiet_start: str | None
    quiet_end: str | None
    timezone: str
    quiet_mode: str


class EndpointIn(BaseModel):
    url: str = Field("", max_length=2000)  # checked after access: 404 before 422
    events: list[str] = Field(default_factory=list, max_length=10)


class EndpointOut(BaseModel):
    id: int
    url: str
    events: list[str]
    failures: int
    last_error: str | None
    suspended: bool
    created_at: datetime


class EndpointCreated(EndpointOut):
    secret: str  # shown this once


def endpoint_out(row: WebhookEndpoint) -> EndpointOut:
    return EndpointOut(
        id=row.id,
        url=row.url,
        events=list(row.events or []),
        failures=row.failures,
        last_error=row.last_error,
        suspended=row.suspended_at is not None,
        created_at=row.created_at,
    )
