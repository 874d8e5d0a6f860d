"""The public service page of a brand that publishes one: no login, no customer data.

``/s/<brand>`` for people, ``/s/<brand>/status.json`` for status pages and scripts (CORS
open: it holds nothing private), ``/s/<brand>/badge.svg`` to embed. Each is computed at
most once a minute per brand and may be cached by anyone for as long.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from earful.public.service import CACHE_SECONDS, PublicStatus, StatusCache
from earful.web.deps import Db
from earful.web.render import TEMPLATES, render

html = APIRouter(include_in_schema=False)
api = APIRouter(tags=["public"])
CACHE = {"Cache-Control": f"public, max-age={CACHE_SECONDS}"}


class SpanOut(BaseModel):
    opens: datetime
    closes: datetime


class PublicStatusOut(BaseModel):
    brand: str
    name: str
    timezone: str
    always_open: bool
    open_now: bool
    back_at: datetime | None
    expected_first_response_by: datetime | None
    expected_wait: str
    computed_at: datetime
    hours_next_7_days: list[SpanOut]
    networks: list[str]
    preferred_contact: str | None


def status_out(s: PublicStatus) -> PublicStatusOut:
    return PublicStatusOut(
        brand=s.slug,
        name=s.name,
        timezone=s.timezone,
        always_open=s.always_open,
        open_now=s.open_now,
        back_at=s.back_at,
        expected_first_response_by=s.answer_by,
        expected_wait=s.wait_words,
        computed_at=s.computed_at,
        hours_next_7_days=[SpanOut(opens=w.opens, closes=w.closes) for w in s.week],
        networks=s.networks,
        preferred_contact=s.preferred_contact,
    )


def cache_of(request: Request) -> StatusCache:
    cache = getattr(request.app.state, "public_status", None)
    if cache is None:
        cache = request.app.state.public_status = StatusCache()
    assert isinstance(cache, StatusCache)
    return cache


@html.get("/s/{slug}", response_class=HTMLResponse)
def public_page(request: Request, db: Db, slug: str) -> Response:
    s = cache_of(request).get(db, slug)
    response = render(request, "public.html", {"s": s})
    response.headers.update(CACHE)
    return response


@api.get("/s/{slug}/status.json", response_model=PublicStatusOut)
def public_status(request: Request, db: Db, slug: str) -> JSONResponse:
    s = cache_of(request).get(db, slug)
    body = status_out(s).model_dump(mode="json")
    return JSONResponse(body, headers={**CACHE, "Access-Control-Allow-Origin": "*"})


@html.get("/s/{slug}/badge.svg")
def badge(request: Request, db: Db, slug: str) -> Response:
    s = cache_of(request).get(db, slug)
    label = "replies"
    value = ("open · " if s.open_now else "away · ") + s.wait_words
    left, right = 7 * len(label) + 12, 7 * len(value) + 12
    colour = "#2e7d32" if s.open_now else "#6d4c41"
    svg = TEMPLATES.get_template("badge.svg.xml").render(
        name=s.name, label=label, value=value, left=left, right=right, colour=colour
    )  # autoescaped: the brand's name is text, never markup
    return Response(svg, media_type="image/svg+xml", headers=CACHE)
