"""CSAT figures as the dashboard and its CSV show them."""

from __future__ import annotations

from pydantic import BaseModel


class CsatLine(BaseModel):
    scope: str  # brand | agent | network
    key: str  # the brand's slug, the agent's user id ("" for nobody), the network
    name: str
    sent: int
    answered: int
    average: float | None  # mean score, 1..5
    satisfied_pct: float | None  # answers scoring 4 or 5
    response_pct: float | None  # surveys answered


class CsatOut(BaseModel):
    brand: CsatLine
    agents: list[CsatLine]
    networks: list[CsatLine]
