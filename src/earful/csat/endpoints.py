"""The survey's answer page, ``/csat/<token>``: no login, no cookie needed.

The signed token in the path is the credential, so the form needs no CSRF token (a
forger would need the token itself; ``web.security`` lets ``/csat/`` through). Each
client address may open or answer a limited number of times a window; every refusal
(malformed, forged, expired, answered already, too many) is a page that says why and
stores nothing.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from earful.csat import service
from earful.errors import DomainError, TooManyAttempts
from earful.models.base import utcnow
from earful.web.deps import Db
from earful.web.render import render

html = APIRouter(include_in_schema=False)
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


class Throttle:
    """At most ``limit`` requests per client address in any ``window`` seconds."""

    def __init__(self, limit: int = 30, window: float = 600.0) -> None:
        self.limit, self.window = limit, window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and now - hits[0] > self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                raise TooManyAttempts(
                    "too many tries from here; wait a few minutes",
                    retry_after=int(self.window - (now - hits[0])) + 1,
                )
            hits.append(now)
            if len(self._hits) > 100_000:  # forget idle addresses rather than grow forever
                for k in [k for k, v in self._hits.items() if not v or now - v[-1] > self.window]:
                    del self._hits[k]


def _throttle(request: Request) -> Throttle:
    found = getattr(request.app.state, "csat_throttle", None)
    if not isinstance(found, Throttle):
        found = request.app.state.csat_throttle = Throttle()
    return found


def _clock(request: Request) -> datetime:
    clock = getattr(request.app.state, "clock", None)
    return clock() if callable(clock) else utcnow()


def _page(request: Request, ctx: dict[str, object], status: int = 200) -> Response:
    response = render(request, "csat.html", ctx, status_code=status)
    response.headers.update(NO_STORE)
    if status == 429:
        response.headers["Retry-After"] = str(ctx.get("retry_after", 60))
    return response


def _refused(request: Request, exc: DomainError) -> Response:
    ctx: dict[str, object] = {"error": str(exc), "status": exc.status_code}
    if isinstance(exc, TooManyAttempts):
        ctx["retry_after"] = exc.retry_after
    return _page(request, ctx, exc.status_code)


@html.get("/csat/{token}", response_class=HTMLResponse)
def survey_page(request: Request, db: Db, token: str) -> Response:
    try:
        _throttle(request).check(request.client.host if request.client else "?")
        page = service.open_survey(db, token, request.app.state.secret_key, _clock(request))
    except DomainError as exc:
        return _refused(request, exc)
    return _page(request, {"page": page, "token": token})


@html.post("/csat/{token}", response_class=HTMLResponse)
def survey_answer(
    request: Request,
    db: Db,
    token: str,
    score: Annotated[str, Form()] = "",
    comment: Annotated[str, Form(max_length=20000)] = "",
) -> Response:
    try:
        _throttle(request).check(request.client.host if request.client else "?")
        page = service.answer(
            db, token, request.app.state.secret_key, score, comment, _clock(request)
        )
    except DomainError as exc:
        return _refused(request, exc)
    return _page(request, {"page": page, "thanks": True})
