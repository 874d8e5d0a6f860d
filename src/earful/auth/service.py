"""Account logic. Takes a session, never commits."""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from earful.audit import repository as audit_repo
from earful.auth import repository, throttle
from earful.auth.passwords import MIN_LENGTH, hash_password, needs_rehash, verify_password
from earful.errors import BadInput, Conflict, NotAuthenticated, NotFound, TooManyAttempts
from earful.models import ApiToken, Membership, Role, User
from earful.models.base import utcnow

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
TOKEN_PREFIX = "ef_"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a user and their role in each of their brands."""

    user_id: int
    name: str
    email: str
    roles: dict[int, Role] = field(default_factory=dict)
    password_tag: str = ""
    via_token: bool = False
    address: str | None = None  # where the request came from, for the audit log
    session_id: int | None = None  # the server-side session row of a signed-in browser

    def brand_ids(self, need: Role = Role.VIEWER) -> list[int]:
        return sorted(b for b, r in self.roles.items() if r.rank >= need.rank)


def audit(
    session: Session,
    principal: Principal | None,
    action: str,
    *,
    brand_id: int | None = None,
    target: str | None = None,
    **details: Any,
) -> None:
    """Append to the audit log who (the principal, or the command line) did what."""
    audit_repo.record(
        session,
        action=action,
        actor=principal.email if principal else "cli",
        user_id=principal.user_id if principal else None,
        address=principal.address if principal else None,
        brand_id=brand_id,
        target=target,
        details=details,
    )


def audit_member(
    session: Session, user: User, action: str, address: str | None, **details: Any
) -> None:
    """An event about a user's account, once in each of their brands' logs."""
    for brand_id in repository.brand_ids_of(session, user.id):
        audit_repo.record(
            session,
            action=action,
            actor=user.email,
            user_id=user.id,
            address=address,
            brand_id=brand_id,
            details=details,
        )


def password_tag(password_hash: str) -> str:
    """A short fingerprint of the hash: a changed password ends every session."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:12]


def create_user(
    session: Session,
    email: str,
    name: str,
    password: str,
    brands: dict[int, Role] | None = None,
) -> User:
    email = email.strip().lower()
    if not EMAIL.match(email):
        raise BadInput("email must look like name@example.org")
    if len(password) < MIN_LENGTH:
        raise BadInput(f"password must have at least {MIN_LENGTH} characters")
    if repository.user_by_email(session, email) is not None:
        raise Conflict(f"a user with email {email} already exists")
    user = User(email=email, name=name.strip() or email, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    for brand_id, role in (brands or {}).items():
        grant(session, user.id, brand_id, role)
    return user


def grant(session: Session, user_id: int, brand_id: int, role: Role) -> None:
    existing = repository.membership(session, user_id, brand_id)
    if existing is None:
        session.add(Membership(user_id=user_id, brand_id=brand_id, role=role))
    else:
        existing.role = role
    session.flush()


def set_active(session: Session, email: str, active: bool) -> User:
    """Let someone sign in again, or stop them at once: a deactivated user's sessions and
    API tokens are refused from their next request, and they leave the assignee lists."""
    user = repository.user_by_email(session, email.strip().lower())
    if user is None:
        raise NotFound(f"no user {email!r}")
    user.is_active = active
    session.flush()
    return user


def sign_in(
    session: Session, email: str, password: str, address: str, now: datetime | None = None
) -> User:
    """Check a sign-in under the throttle (per account and per client address).

    Raises :class:`TooManyAttempts` without checking the password while a delay or lock
    holds; raises :class:`NotAuthenticated` after counting a wrong attempt, so the caller
    must return (not re-raise) for the count to be committed. A success clears the
    account's count (never the address's: one good account must not unlock a guesser)."""
    now = now or utcnow()
    keys = [
        (throttle.ACCOUNT, throttle.account_key(email)),
        (throttle.ADDRESS, throttle.address_key(address)),
    ]
    check_throttle(session, keys, now)
    try:
        user = authenticate(session, email, password)
    except NotAuthenticated:
        count_failure(session, keys, now)
        known = repository.user_by_email(session, email.strip().lower())
        if known is not None:
            audit_member(session, known, "auth.sign_in_failed", address)
        session.flush()
        raise
    repository.clear_throttle(session, throttle.account_key(email))
    audit_member(session, user, "auth.sign_in", address)
    return user


Keys = list[tuple[throttle.Policy, str]]


def check_throttle(session: Session, keys: Keys, now: datetime) -> None:
    """Raise :class:`TooManyAttempts` while any key's delay or lock holds."""
    wait = max(
        throttle.retry_after(policy, repository.throttle(session, key), now) for policy, key in keys
    )
    if wait > timedelta(0):
        seconds = max(1, math.ceil(wait.total_seconds()))
        raise TooManyAttempts(
            f"Too many sign-in attempts: try again in {_duration(seconds)}.", seconds
        )


def count_failure(session: Session, keys: Keys, now: datetime) -> None:
    for policy, key in keys:
        throttle.fail(policy, repository.throttle_for_update(session, key, now), now)
    session.flush()


def unlock(session: Session, email: str) -> bool:
    """An admin lifts an account's delay or lock (password and second factor) at once."""
    email = email.strip().lower()
    cleared = repository.clear_throttle(session, throttle.account_key(email))
    user = repository.user_by_email(session, email)
    if user is not None:
        cleared = repository.clear_throttle(session, throttle.second_factor_key(user.id)) or cleared
    return cleared


def _duration(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} s"
    return f"{math.ceil(seconds / 60)} min"


def authenticate(session: Session, email: str, password: str) -> User:
    user = repository.user_by_email(session, email.strip().lower())
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        raise NotAuthenticated("wrong email or password")
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def load_principal(session: Session, user_id: int, via_token: bool = False) -> Principal | None:
    found = repository.user_with_roles(session, user_id)
    if found is None:
        return None
    user, roles = found
    return principal_of(user, roles, via_token)


def principal_of(user: User, roles: dict[int, Role], via_token: bool = False) -> Principal:
    return Principal(
        user.id, user.name, user.email, roles, password_tag(user.password_hash), via_token
    )


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, user_id: int, name: str) -> tuple[ApiToken, str]:
    """A new API token; the clear text is returned once and never stored."""
    clear = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user_id, name=name.strip()[:200] or "token", token_hash=hash_token(clear)
    )
    session.add(token)
    session.flush()
    user = session.get(User, user_id)
    if user is not None:
        audit_member(session, user, "token.create", None, token_name=token.name)
    return token, clear


def principal_for_token(session: Session, clear: str) -> Principal:
    user_id = repository.user_id_by_token(session, hash_token(clear))
    principal = load_principal(session, user_id, via_token=True) if user_id else None
    if principal is None:
        raise NotAuthenticated("unknown or revoked API token")
    repository.token_used(session, hash_token(clear), utcnow())
    return principal


def revoke_token(session: Session, user_id: int, token_id: int) -> None:
    token = repository.token_of(session, user_id, token_id)
    if token is None:
        raise NotFound("no such token")
    user = session.get(User, user_id)
    if user is not None:
        audit_member(session, user, "token.revoke", None, token_name=token.name)
    session.delete(token)
    session.flush()


def remove_member(session: Session, user_id: int, brand_id: int) -> None:
    member = repository.membership(session, user_id, brand_id)
    if member is None:
        raise NotFound("no such member of this brand")
    session.delete(member)
    session.flush()
