"""The TOTP step of a sign-in, enrolment (required by a brand, or chosen on the account
page) and the recovery codes. Wrong codes are throttled like passwords, per account and
per address; a failure is returned, not raised, so its count commits."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from earful.auth import repository, second_factor, service, throttle
from earful.auth.sign_in_flow import (
    ENROL_STEP,
    TOTP_STEP,
    address_of,
    now_of,
    pending_user,
    safe_next,
    sessions_of,
    start_session,
)
from earful.errors import Forbidden, NotAuthenticated, TooManyAttempts
from earful.models import User
from earful.web.deps import CurrentUser, Db
from earful.web.render import render

html = APIRouter(include_in_schema=False)
Code = Annotated[str, Form(max_length=40)]
Next = Annotated[str, Form(max_length=2000)]
NO_STORE = {"Cache-Control": "no-store"}


def _keys(request: Request, user_id: int) -> service.Keys:
    return [
        (throttle.ACCOUNT, throttle.second_factor_key(user_id)),
        (throttle.ADDRESS, throttle.address_key(address_of(request))),
    ]


def _check(request: Request, db: Session, user: User, code: str) -> str:
    """Verify a code under the throttle: returns "totp" or "recovery"; raises
    :class:`TooManyAttempts` unchecked while a delay holds, :class:`NotAuthenticated`
    after counting a wrong code."""
    now = now_of(request)
    keys = _keys(request, user.id)
    service.check_throttle(db, keys, now)
    try:
        used = second_factor.verify(db, user.id, code, sessions_of(request).secret_key, now)
    except NotAuthenticated:
        service.count_failure(db, keys, now)
        service.audit_member(db, user, "auth.second_factor_failed", address_of(request))
        raise
    repository.clear_throttle(db, throttle.second_factor_key(user.id))
    return used


@html.get("/login/totp", response_class=HTMLResponse)
def totp_page(request: Request, db: Db, next: str | None = None) -> Response:
    try:
        pending_user(request, db, TOTP_STEP)
    except NotAuthenticated:  # not mid-sign-in: start again (never back here, no loop)
        return RedirectResponse("/login", status_code=303)
    return render(request, "login_totp.html", {"next": safe_next(next), "error": None})


@html.post("/login/totp", response_class=HTMLResponse)
def totp_step(request: Request, db: Db, code: Code, next: Next = "/inbox") -> Response:
    user, method = pending_user(request, db, TOTP_STEP)
    try:
        used = _check(request, db, user, code)
    except NotAuthenticated:
        error = "Wrong or already used code."
        return render(
            request, "login_totp.html", {"next": safe_next(next), "error": error}, status_code=401
        )
    except TooManyAttempts as exc:
        return render(
            request,
            "login_totp.html",
            {"next": safe_next(next), "error": str(exc)},
            status_code=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    service.audit_member(db, user, "auth.second_factor", address_of(request), kind=used)
    return start_session(request, db, user, next, method)


def _enrol_page(
    request: Request,
    db: Session,
    user: User,
    action: str,
    next: str,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    secret = second_factor.start(db, user, sessions_of(request).secret_key)
    context = {
        "secret": secret,
        "qr": second_factor.qr_data_uri(second_factor.uri(secret, user.email)),
        "action": action,
        "next": safe_next(next),
        "required": action == "/login/enrol",
        "error": error,
    }
    return render(request, "totp_enrol.html", context, status_code=status_code, headers=NO_STORE)


def _confirm(request: Request, db: Session, user: User, code: str) -> list[str]:
    codes = second_factor.confirm(db, user, code, sessions_of(request).secret_key, now_of(request))
    service.audit_member(db, user, "auth.totp_enrolled", address_of(request))
    return codes


def _codes_page(request: Request, codes: list[str], next: str) -> Response:
    context = {"codes": codes, "next": safe_next(next)}
    return render(request, "recovery_codes.html", context, headers=NO_STORE)


@html.get("/login/enrol", response_class=HTMLResponse)
def enrol_page(request: Request, db: Db, next: str | None = None) -> Response:
    try:
        user, _ = pending_user(request, db, ENROL_STEP)
    except NotAuthenticated:
        return RedirectResponse("/login", status_code=303)
    return _enrol_page(request, db, user, "/login/enrol", next or "/inbox")


@html.post("/login/enrol", response_class=HTMLResponse)
def enrol(request: Request, db: Db, code: Code, next: Next = "/inbox") -> Response:
    user, method = pending_user(request, db, ENROL_STEP)
    try:
        codes = _confirm(request, db, user, code)
    except NotAuthenticated as exc:
        return _enrol_page(request, db, user, "/login/enrol", next, str(exc), 400)
    page = _codes_page(request, codes, next)
    return start_session(request, db, user, next, method, response=page)


@html.get("/account/totp", response_class=HTMLResponse)
def account_enrol_page(request: Request, db: Db, principal: CurrentUser) -> Response:
    user = _user(db, principal.user_id)
    if second_factor.is_enrolled(db, user.id):
        return RedirectResponse("/account", status_code=303)
    return _enrol_page(request, db, user, "/account/totp", "/account")


@html.post("/account/totp", response_class=HTMLResponse)
def account_enrol(request: Request, db: Db, principal: CurrentUser, code: Code) -> Response:
    user = _user(db, principal.user_id)
    try:
        codes = _confirm(request, db, user, code)
    except NotAuthenticated as exc:
        return _enrol_page(request, db, user, "/account/totp", "/account", str(exc), 400)
    return _codes_page(request, codes, "/account")


@html.post("/account/totp/recovery-codes", response_class=HTMLResponse)
def account_second_factor(
    request: Request,
    db: Db,
    principal: CurrentUser,
    code: Code,
    action: Annotated[str, Form(max_length=16)] = "codes",
) -> Response:
    """New recovery codes, or the second factor turned off: each needs a current code."""
    user = _user(db, principal.user_id)
    if action == "off" and repository.requires_totp(db, user.id):
        raise Forbidden("a brand you work for requires a second factor")
    try:
        _check(request, db, user, code)
    except (NotAuthenticated, TooManyAttempts) as exc:
        return RedirectResponse(f"/account?saved={quote(str(exc))}", status_code=303)
    if action == "off":
        second_factor.remove(db, user.id)
        service.audit_member(db, user, "auth.totp_removed", address_of(request))
        return RedirectResponse("/account?saved=Second+factor+turned+off.", status_code=303)
    codes = second_factor.new_recovery_codes(db, user.id)
    service.audit_member(db, user, "auth.recovery_codes_renewed", address_of(request))
    return _codes_page(request, codes, "/account")


def _user(db: Session, user_id: int) -> User:
    user = db.get(User, user_id)
    if user is None:
        raise NotAuthenticated()
    return user
