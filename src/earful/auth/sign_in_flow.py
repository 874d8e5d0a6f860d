"""The steps of a browser sign-in after a first factor (password or OpenID Connect):
the TOTP step or the enrolment a brand requires, then a server-side session."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from earful.auth import repository, second_factor, service
from earful.auth import sessions as server_sessions
from earful.errors import NotAuthenticated
from earful.models import User
from earful.web.security import SessionData, Sessions

# A password (or identity provider) answer is good this long for the second step.
PENDING_FOR = timedelta(minutes=10)
TOTP_STEP, ENROL_STEP = "totp", "enrol"


def safe_next(target: str | None) -> str:
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/inbox"
    return target


def address_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def now_of(request: Request) -> datetime:
    clock = request.app.state.clock
    found: datetime = clock()
    return found


def sessions_of(request: Request) -> Sessions:
    found: Sessions = request.app.state.sessions
    return found


def after_first_factor(
    request: Request, db: Session, user: User, next_path: str, method: str
) -> Response:
    """Sign in now, or send the browser to the second step that is due."""
    if second_factor.is_enrolled(db, user.id):
        step = TOTP_STEP
    elif repository.requires_totp(db, user.id):
        step = ENROL_STEP
    else:
        return start_session(request, db, user, next_path, method)
    pending = (user.id, f"{step}:{method}", now_of(request).timestamp())
    data = SessionData(None, secrets.token_urlsafe(32), pending=pending)
    query = urlencode({"next": safe_next(next_path)})
    response = RedirectResponse(f"/login/{step}?{query}", status_code=303)
    sessions_of(request).write(response, data)
    return response


def pending_user(request: Request, db: Session, step: str) -> tuple[User, str]:
    """The user half signed in for this step, and how they proved the first factor."""
    data = sessions_of(request).read(request)
    if data.pending is None:
        raise NotAuthenticated("sign in with your password first")
    user_id, kind, at = data.pending
    wanted, _, method = kind.partition(":")
    fresh = now_of(request).timestamp() - at <= PENDING_FOR.total_seconds()
    user = db.get(User, user_id)
    if wanted != step or not fresh or user is None or not user.is_active:
        raise NotAuthenticated("this sign-in has expired: sign in again")
    return user, method or "password"


def start_session(
    request: Request,
    db: Session,
    user: User,
    next_path: str,
    method: str,
    response: Response | None = None,
) -> Response:
    """Open a server-side session and put its token in the cookie (with a new CSRF token:
    nothing learned before sign-in is of use after)."""
    clear = server_sessions.open_session(
        db,
        user.id,
        address_of(request),
        request.headers.get("user-agent"),
        method,
        now_of(request),
    )
    if response is None:
        response = RedirectResponse(safe_next(next_path), status_code=303)
    data = SessionData(
        user.id, secrets.token_urlsafe(32), service.password_tag(user.password_hash), sid=clear
    )
    sessions_of(request).write(response, data)
    request.state.session = data  # a page rendered in this response uses the new token
    return response
