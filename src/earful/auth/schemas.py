"""Account shapes for the JSON API."""

from __future__ import annotations

from pydantic import BaseModel


class BrandRole(BaseModel):
    id: int
    slug: str
    name: str
    role: str


class MeOut(BaseModel):
    id: int
    name: str
    email: str
    brands: list[BrandRole]
