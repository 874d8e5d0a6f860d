"""Pydantic shapes of the dashboard (its JSON API and the numbers behind every chart)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from earful.alerts.schemas import AlertOut
from earful.csat.schemas import CsatOut

Chart = Literal["volume", "intents", "response", "agents", "alerts", "csat"]
SENTIMENTS = ("negative", "neutral", "positive")
INTENTS = ("complaint", "question", "compliment")


class BrandRef(BaseModel):
    slug: str
    name: str
    target_response_minutes: int


class VolumeDay(BaseModel):
    """Customer posts heard on one UTC day, by sentiment."""

    day: str
    total: int
    negative: int
    neutral: int
    positive: int
    unlabelled: int


class IntentShare(BaseModel):
    intent: str  # complaint, question, compliment, other or unlabelled
    posts: int
    share: float  # of all customer posts in the window, 0..1


class ResponseTimes(BaseModel):
    """Time from a customer post to the brand's next reply in the conversation.

    The brand's reply is its next post in the conversation or an agent's reply queued
    from Earful, whichever came first. ``within_target`` counts answered posts whose
    wait was at most the brand's target; the denominator is the answered posts plus the
    unanswered ones already past the target (those still inside it are ``pending``).
    """

    target_minutes: int
    answered: int
    pending: int
    overdue_unanswered: int
    p50_minutes: float | None
    p75_minutes: float | None
    p90_minutes: float | None
    p95_minutes: float | None
    p99_minutes: float | None
    within_target: int
    within_target_pct: float | None


class AgentLoad(BaseModel):
    user_id: int
    name: str
    role: str
    open_assigned: int  # open conversations assigned now (new, open, waiting)
    replies: int  # replies written in the window and not discarded


class DashboardOut(BaseModel):
    brand: BrandRef
    since: datetime
    until: datetime
    days: int
    volume: list[VolumeDay]
    intents: list[IntentShare]
    response: ResponseTimes
    agents: list[AgentLoad]
    alerts: list[AlertOut]
    csat: CsatOut
