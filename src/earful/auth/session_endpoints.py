"""The user's own sessions: listed, one revoked, or all but this one (a brand admin ends a
member's in ``brand_endpoints``). A revoked session's cookie is refused from its next
request."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from earful.auth import repository, service
from earful.auth import sessions as server_sessions
from earful.models import User
from earful.web.deps import CurrentUser, Db
from earful.web.render import render

html = APIRouter(include_in_schema=False)


@html.get("/account/sessions", response_class=HTMLResponse)
def sessions_page(request: Request, db: Db, principal: CurrentUser, saved: str = "") -> Response:
    context = {
        "sessions": repository.sessions_of(db, principal.user_id),
        "current": principal.session_id,
        "saved": saved[:200] or None,
    }
    return render(request, "sessions.html", context)


def _back(saved: str) -> RedirectResponse:
    return RedirectResponse(f"/account/sessions?saved={quote(saved)}", status_code=303)


@html.post("/account/sessions/{session_id}/revoke")
def revoke(db: Db, principal: CurrentUser, session_id: int) -> Response:
    server_sessions.revoke(db, principal.user_id, session_id)
    _audit(db, principal, "auth.session_revoked", count=1)
    return _back("Signed out of that session.")


@html.post("/account/sessions/revoke-others")
def revoke_others(db: Db, principal: CurrentUser) -> Response:
    ended = server_sessions.revoke_all(db, principal.user_id, keep=principal.session_id)
    _audit(db, principal, "auth.sessions_revoked", count=ended)
    return _back(f"Signed out of {ended} other session(s).")


def _audit(db: Db, principal: CurrentUser, action: str, **details: int) -> None:
    """In each of the user's brands' logs (the event is about the account)."""
    user = db.get(User, principal.user_id)
    if user is not None:
        service.audit_member(db, user, action, principal.address, **details)
