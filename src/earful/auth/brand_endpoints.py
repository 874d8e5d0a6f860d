"""A brand admin's sign-in controls: require a second factor of the brand's members, end a
member's sessions, lift a member's sign-in lock. Admin role of the brand, 404 otherwise."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from earful.auth import repository, service
from earful.auth import sessions as server_sessions
from earful.auth.access import access_brand_id
from earful.auth.service import Principal
from earful.errors import NotFound
from earful.models import Brand, Role, SignInPolicy, User
from earful.web.deps import CurrentUser, Db

html = APIRouter(include_in_schema=False)


def admin_brand(db: Session, principal: Principal, slug: str) -> Brand:
    found = repository.brands_by_slug(db, [slug])
    if not found:
        raise NotFound("no such brand")
    access_brand_id(principal, found[0].id, Role.ADMIN)
    return found[0]


def _back(slug: str, saved: str) -> RedirectResponse:
    return RedirectResponse(f"/brands/{slug}/settings?saved={quote(saved)}#team", status_code=303)


@html.post("/brands/{slug}/sign-in-policy")
def set_policy(
    db: Db,
    principal: CurrentUser,
    slug: str,
    require_totp: Annotated[bool, Form()] = False,
) -> Response:
    brand = admin_brand(db, principal, slug)
    policy = repository.policy_of(db, brand.id)
    if policy is None:
        policy = SignInPolicy(brand_id=brand.id, require_totp=require_totp)
        db.add(policy)
    policy.require_totp = require_totp
    db.flush()
    service.audit(
        db, principal, "auth.policy_change", brand_id=brand.id,
        status="totp required" if require_totp else "totp optional",
    )  # fmt: skip
    return _back(slug, "A second factor is now " + ("required." if require_totp else "optional."))


def member_of(db: Session, brand: Brand, member_id: int) -> User:
    user = db.get(User, member_id)
    if user is None or repository.membership(db, member_id, brand.id) is None:
        raise NotFound("no such member of this brand")
    return user


@html.post("/brands/{slug}/members/{member_id}/sessions/revoke")
def revoke_member(db: Db, principal: CurrentUser, slug: str, member_id: int) -> Response:
    brand = admin_brand(db, principal, slug)
    user = member_of(db, brand, member_id)
    ended = server_sessions.revoke_all(db, user.id)
    service.audit(
        db, principal, "auth.member_sessions_revoked", brand_id=brand.id,
        target=f"user:{user.id}", count=ended,
    )  # fmt: skip
    return _back(slug, f"Signed {user.email} out of {ended} session(s).")


@html.post("/brands/{slug}/members/{member_id}/unlock")
def unlock_member(db: Db, principal: CurrentUser, slug: str, member_id: int) -> Response:
    brand = admin_brand(db, principal, slug)
    user = member_of(db, brand, member_id)
    service.unlock(db, user.email)
    service.audit(db, principal, "auth.unlock", brand_id=brand.id, target=f"user:{user.id}")
    return _back(slug, f"{user.email} may sign in again.")
