"""Login, logout, API tokens, and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from earful.auth import (
    brand_endpoints,
    oidc_endpoints,
    repository,
    second_factor,
    second_factor_endpoints,
    service,
    session_endpoints,
)
from earful.auth import sessions as server_sessions
from earful.auth.schemas import BrandRole, MeOut
from earful.auth.sign_in_flow import address_of, after_first_factor, safe_next, sessions_of
from earful.errors import NotAuthenticated, TooManyAttempts
from earful.web.deps import CurrentUser, Db, MaybeUser
from earful.web.render import render

html = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["account"])


@html.get("/login", response_class=HTMLResponse)
def login_page(request: Request, principal: MaybeUser, next: str | None = None) -> Response:
    if principal is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "login.html", _login_context(request, next, None))


def _login_context(request: Request, next: str | None, error: str | None) -> dict[str, object]:
    oidc = getattr(request.app.state, "oidc", None)
    return {"next": safe_next(next), "error": error, "oidc": oidc}


@html.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    db: Db,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str, Form(max_length=2000)] = "/inbox",
) -> Response:
    try:
        user = service.sign_in(db, email, password, address_of(request), request.app.state.clock())
    except NotAuthenticated:  # returned, not raised: the counted failure commits
        return render(
            request,
            "login.html",
            _login_context(request, next, "Wrong email or password."),
            status_code=401,
        )
    except TooManyAttempts as exc:
        return render(
            request,
            "login.html",
            _login_context(request, next, str(exc)),
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    return after_first_factor(request, db, user, next, "password")


@html.post("/logout")
def logout(request: Request, db: Db) -> Response:
    response = RedirectResponse("/login", status_code=303)
    sessions = sessions_of(request)
    server_sessions.close(db, sessions.read(request).sid)  # the cookie is dead everywhere
    sessions.clear(response)
    return response


def account_context(db: Db, principal: CurrentUser) -> dict[str, object]:
    return {
        "tokens": repository.tokens_of(db, principal.user_id),
        "brands": repository.brands_by_ids(db, principal.brand_ids()),
        "roles": principal.roles,
        "new_token": None,
        "saved": None,
        "totp_on": second_factor.is_enrolled(db, principal.user_id),
        "totp_required": repository.requires_totp(db, principal.user_id),
        "recovery_left": second_factor.recovery_left(db, principal.user_id),
    }


@html.get("/account", response_class=HTMLResponse)
def account(request: Request, db: Db, principal: CurrentUser, saved: str = "") -> Response:
    context = account_context(db, principal)
    context["saved"] = saved[:200] or None
    return render(request, "account.html", context)


@html.post("/account/tokens", response_class=HTMLResponse)
def create_token(
    request: Request, db: Db, principal: CurrentUser, name: Annotated[str, Form(max_length=200)]
) -> Response:
    _, clear = service.create_token(db, principal.user_id, name)
    context = account_context(db, principal)
    context["new_token"] = clear
    return render(request, "account.html", context, headers={"Cache-Control": "no-store"})


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


html.include_router(second_factor_endpoints.html)
html.include_router(session_endpoints.html)
html.include_router(brand_endpoints.html)
html.include_router(oidc_endpoints.html)
