"""Login, logout, API tokens, and who am I."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from earful.auth import repository, service
from earful.auth.schemas import BrandRole, MeOut
from earful.errors import NotAuthenticated, TooManyAttempts
from earful.web.deps import CurrentUser, Db, MaybeUser
from earful.web.render import render
from earful.web.security import SessionData, Sessions

html = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["account"])


def safe_next(target: str | None) -> str:
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/inbox"
    return target


@html.get("/login", response_class=HTMLResponse)
def login_page(request: Request, principal: MaybeUser, next: str | None = None) -> Response:
    if principal is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", {"next": safe_next(next), "error": None})


@html.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    db: Db,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str, Form(max_length=2000)] = "/inbox",
) -> Response:
    address = request.client.host if request.client else "unknown"
    try:
        user = service.sign_in(db, email, password, address, request.app.state.clock())
    except NotAuthenticated:  # returned, not raised: the counted failure commits
        return render(
            request,
            "login.html",
            {"next": safe_next(next), "error": "Wrong email or password."},
            status_code=401,
        )
    except TooManyAttempts as exc:
        return render(
            request,
            "login.html",
            {"next": safe_next(next), "error": str(exc)},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    sessions: Sessions = request.app.state.sessions
    response = RedirectResponse(safe_next(next), status_code=303)
    # A new CSRF token at login: nothing learned before it is of use after.
    sessions.write(
        response,
        SessionData(user.id, secrets.token_urlsafe(32), service.password_tag(user.password_hash)),
    )
    return response


@html.post("/logout")
def logout(request: Request) -> Response:
    response = RedirectResponse("/login", status_code=303)
    sessions: Sessions = request.app.state.sessions
    sessions.clear(response)
    return response


@html.get("/account", response_class=HTMLResponse)
def account(request: Request, db: Db, principal: CurrentUser) -> Response:
    tokens = repository.tokens_of(db, principal.user_id)
    brands = repository.brands_by_ids(db, principal.brand_ids())
    return render(
        request,
        "account.html",
        {"tokens": tokens, "brands": brands, "roles": principal.roles, "new_token": None},
    )


@html.post("/account/tokens", response_class=HTMLResponse)
def create_token(
    request: Request, db: Db, principal: CurrentUser, name: Annotated[str, Form(max_length=200)]
) -> Response:
    _, clear = service.create_token(db, principal.user_id, name)
    tokens = repository.tokens_of(db, principal.user_id)
    brands = repository.brands_by_ids(db, principal.brand_ids())
    return render(
        request,
        "account.html",
        {"tokens": tokens, "brands": brands, "roles": principal.roles, "new_token": clear},
    )


@html.post("/account/tokens/{token_id}/delete")
def delete_token(db: Db, principal: CurrentUser, token_id: int) -> Response:
    service.revoke_token(db, principal.user_id, token_id)
    return RedirectResponse("/account", status_code=303)


@api.get("/me", response_model=MeOut)
def me(db: Db, principal: CurrentUser) -> MeOut:
    brands = repository.brands_by_ids(db, principal.brand_ids())
    return MeOut(
        id=principal.user_id,
        name=principal.name,
        email=principal.email,
        brands=[
            BrandRole(id=b.id, slug=b.slug, name=b.name, role=principal.roles[b.id].value)
            for b in brands
        ],
    )
