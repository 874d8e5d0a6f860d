"""Pydantic shapes of spike alerts, as the inbox, the live feed, the dashboard and the
JSON API show them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from earful.models import Alert

KIND_WORDS = {"negative": "Negative mentions", "volume": "Mentions"}


class AlertOut(BaseModel):
    id: int
    brand_id: int
    kind: str
    opened_at: datetime
    title: str
    observed: int
    expected: float
    acknowledged_at: datetime | None = None


class AlertPostOut(BaseModel):
    id: int
    conversation_id: int | None
    network: str
    author_handle: str | None
    text: str
    created_at: datetime
    sentiment: str | None
    intent: str | None


class AlertDetailOut(BaseModel):
    alert: AlertOut
    posts: list[AlertPostOut]


def alert_out(alert: Alert) -> AlertOut:
    """An alert in words: what spiked, by how much against the usual."""
    what = KIND_WORDS.get(alert.kind, alert.kind.capitalize())
    title = (
        f"{what} spiking: {alert.observed} in the window, {alert.expected:.1f} expected"
        f" ({alert.ratio:.0f}×)"
        if alert.expected
        else f"{what} spiking: {alert.observed} in the window"
    )
    return AlertOut(
        id=alert.id,
        brand_id=alert.brand_id,
        kind=alert.kind,
        opened_at=alert.window_start,
        title=title,
        observed=alert.observed,
        expected=alert.expected,
        acknowledged_at=alert.acknowledged_at,
    )
