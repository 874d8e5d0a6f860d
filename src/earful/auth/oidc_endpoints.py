"""Sign-in with an OpenID Connect provider (when ``EARFUL_OIDC_ISSUER`` is set).

``/login/oidc`` sends the browser to the provider with a state, a nonce and a PKCE
challenge kept in a short-lived signed cookie; the callback checks the state, trades the
code (with the verifier) for an ID token, checks it, and matches the provider's *verified*
email to an existing account (creating one only if ``EARFUL_OIDC_CREATE_USERS`` says so).
Then the usual second step, if any, and a server-side session."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from earful.auth import repository, service
from earful.auth.oidc import OidcClient, OidcError
from earful.auth.sign_in_flow import address_of, after_first_factor, safe_next, sessions_of
from earful.errors import NotFound
from earful.models import User
from earful.web.deps import Db
from earful.web.render import render

log = logging.getLogger(__name__)
html = APIRouter(include_in_schema=False)
COOKIE = "earful_oidc"
ROUND_TRIP_S = 600  # the browser has ten minutes at the provider


def _client(request: Request) -> OidcClient:
    client = getattr(request.app.state, "oidc", None)
    if not isinstance(client, OidcClient):
        raise NotFound("sign-in with an identity provider is not set up")
    return client


def _signer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(sessions_of(request).secret_key, salt="earful.oidc")


def _redirect_uri(request: Request) -> str:
    return str(request.url_for("oidc_callback"))


@html.get("/login/oidc")
def oidc_start(request: Request, next: str | None = None) -> Response:
    client = _client(request)
    try:
        challenge = client.begin(_redirect_uri(request))
    except OidcError as exc:
        return _refused(request, str(exc), 502)
    response = RedirectResponse(challenge.url, status_code=303)
    value = _signer(request).dumps(
        {"s": challenge.state, "n": challenge.nonce, "v": challenge.verifier, "x": safe_next(next)}
    )
    response.set_cookie(
        COOKIE,
        value,
        max_age=ROUND_TRIP_S,
        httponly=True,
        secure=sessions_of(request).secure,
        samesite="lax",  # sent on the provider's top-level redirect back, not on a sub-request
        path="/login/oidc",
    )
    return response


def _refused(request: Request, reason: str, status: int = 401) -> Response:
    log.info("OIDC sign-in refused: %s", reason)
    context = {"next": "/inbox", "error": f"Sign-in refused: {reason}.", "oidc": None}
    response = render(request, "login.html", context, status_code=status)
    response.delete_cookie(COOKIE, path="/login/oidc")
    return response


def _round_trip(request: Request) -> dict[str, Any]:
    raw = request.cookies.get(COOKIE)
    try:
        found = _signer(request).loads(raw or "", max_age=ROUND_TRIP_S)
    except BadSignature:
        raise OidcError("this sign-in has expired or did not start here") from None
    if not isinstance(found, dict) or not all(isinstance(found.get(k), str) for k in "snvx"):
        raise OidcError("this sign-in has expired or did not start here")
    return found


@html.get("/login/oidc/callback", name="oidc_callback")
def oidc_callback(
    request: Request,
    db: Db,
    code: str = "",
    state: str = "",
    error: str = "",
) -> Response:
    client = _client(request)
    try:
        trip = _round_trip(request)
        if not state or not secrets.compare_digest(state, trip["s"]):
            raise OidcError("the state does not match this sign-in")
        if error or not code:
            raise OidcError(f"the identity provider said {error[:80] or 'no code'}")
        id_token = client.exchange(code, _redirect_uri(request), trip["v"])
        claims = client.verify(id_token, trip["n"])
        user = _account_for(db, client, claims)
    except OidcError as exc:
        return _refused(request, str(exc))
    service.audit_member(db, user, "auth.sign_in", address_of(request), kind="oidc")
    response = after_first_factor(request, db, user, trip["x"], "oidc")
    response.delete_cookie(COOKIE, path="/login/oidc")
    return response


def _account_for(db: Db, client: OidcClient, claims: dict[str, Any]) -> User:
    email = str(claims.get("email") or "").strip().lower()
    if not email or claims.get("email_verified") is not True:
        raise OidcError("the identity provider did not vouch for an email address")
    user = repository.user_by_email(db, email)
    if user is None and client.config.create_users:
        name = str(claims.get("name") or email)[:200]
        # A random password nobody knows: this account signs in through the provider.
        user = service.create_user(db, email, name, secrets.token_urlsafe(32))
        service.audit_member(db, user, "auth.oidc_user_created", None)
    if user is None:
        raise OidcError(f"no account for {email}; ask an admin to add you")
    if not user.is_active:
        raise OidcError("this account is deactivated")
    return user
