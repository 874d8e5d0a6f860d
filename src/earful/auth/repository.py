"""Account queries."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from earful.models import (
    ApiToken,
    Brand,
    Membership,
    RecoveryCode,
    Role,
    SignInPolicy,
    SignInThrottle,
    TotpCredential,
    User,
    UserSession,
)


def user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email))


def user_with_roles(session: Session, user_id: int) -> tuple[User, dict[int, Role]] | None:
    """The user and their {brand id: role}, in one query."""
    rows = session.execute(
        select(User, Membership.brand_id, Membership.role)
        .outerjoin(Membership, Membership.user_id == User.id)
        .where(User.id == user_id, User.is_active.is_(True))
    ).all()
    if not rows:
        return None
    roles = {brand: role for _, brand, role in rows if brand is not None}
    return rows[0][0], roles


def user_id_by_token(session: Session, token_hash: str) -> int | None:
    return session.scalar(select(ApiToken.user_id).where(ApiToken.token_hash == token_hash))


def token_used(session: Session, token_hash: str, at: datetime) -> None:
    """Note the token's use; at most once a minute, so busy integrations cost no write
    per request."""
    session.execute(
        update(ApiToken)
        .where(
            ApiToken.token_hash == token_hash,
            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < at - timedelta(minutes=1)),
        )
        .values(last_used_at=at)
    )


def membership(session: Session, user_id: int, brand_id: int) -> Membership | None:
    return session.get(Membership, (user_id, brand_id))


def brands_by_slug(session: Session, slugs: list[str]) -> list[Brand]:
    return list(session.scalars(select(Brand).where(Brand.slug.in_(slugs))))


def all_brands(session: Session) -> list[Brand]:
    return list(session.scalars(select(Brand).order_by(Brand.slug)))


def brands_by_ids(session: Session, brand_ids: list[int]) -> list[Brand]:
    if not brand_ids:
        return []
    return list(session.scalars(select(Brand).where(Brand.id.in_(brand_ids)).order_by(Brand.name)))


def members_of(session: Session, brand_ids: list[int]) -> list[tuple[int, str, int]]:
    """(user id, name, brand id) of the members of these brands, for assignment lists."""
    if not brand_ids:
        return []
    rows = session.execute(
        select(User.id, User.name, Membership.brand_id)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.brand_id.in_(brand_ids), User.is_active.is_(True))
        .order_by(User.name)
    ).all()
    return [(uid, name, bid) for uid, name, bid in rows]


def tokens_of(session: Session, user_id: int) -> list[ApiToken]:
    return list(
        session.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id))
    )


def token_of(session: Session, user_id: int, token_id: int) -> ApiToken | None:
    return session.scalar(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user_id)
    )


def throttle(session: Session, key: str) -> SignInThrottle | None:
    return session.get(SignInThrottle, key)


def throttle_for_update(session: Session, key: str, now: datetime) -> SignInThrottle:
    row = session.get(SignInThrottle, key)
    if row is None:
        row = SignInThrottle(key=key, failures=0, last_failure_at=now)
        session.add(row)
    return row


def clear_throttle(session: Session, key: str) -> bool:
    row = session.get(SignInThrottle, key)
    if row is not None:
        session.delete(row)
        session.flush()
    return row is not None


def brand_ids_of(session: Session, user_id: int) -> list[int]:
    """The brands a user is a member of (active or not)."""
    return list(
        session.scalars(
            select(Membership.brand_id)
            .where(Membership.user_id == user_id)
            .order_by(Membership.brand_id)
        )
    )


def members_with_roles(session: Session, brand_id: int) -> list[tuple[int, str, str, Role]]:
    """(user id, name, email, role) of a brand's active members, by name."""
    rows = session.execute(
        select(User.id, User.name, User.email, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.brand_id == brand_id, User.is_active.is_(True))
        .order_by(User.name)
    ).all()
    return [(uid, name, email, role) for uid, name, email, role in rows]


# ------------------------------------------------------------------ sessions, second factors


def session_by_hash(session: Session, token_hash: str) -> UserSession | None:
    return session.scalar(select(UserSession).where(UserSession.token_hash == token_hash))


def sessions_of(session: Session, user_id: int) -> list[UserSession]:
    return list(
        session.scalars(
            select(UserSession)
            .where(UserSession.user_id == user_id)
            .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
        )
    )


def delete_sessions(session: Session, user_id: int, keep: int | None = None) -> int:
    query = delete(UserSession).where(UserSession.user_id == user_id)
    if keep is not None:
        query = query.where(UserSession.id != keep)
    count = session.execute(query).rowcount  # type: ignore[attr-defined]
    session.flush()
    return int(count or 0)


def totp_of(session: Session, user_id: int) -> TotpCredential | None:
    return session.get(TotpCredential, user_id)


def recovery_codes_of(session: Session, user_id: int) -> list[RecoveryCode]:
    return list(
        session.scalars(
            select(RecoveryCode).where(RecoveryCode.user_id == user_id).order_by(RecoveryCode.id)
        )
    )


def delete_second_factor(session: Session, user_id: int) -> bool:
    found = session.get(TotpCredential, user_id)
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    if found is not None:
        session.delete(found)
    session.flush()
    return found is not None


def requires_totp(session: Session, user_id: int) -> bool:
    """Whether any brand the user belongs to requires a second factor."""
    return bool(
        session.scalar(
            select(SignInPolicy.brand_id)
            .join(Membership, Membership.brand_id == SignInPolicy.brand_id)
            .where(Membership.user_id == user_id, SignInPolicy.require_totp.is_(True))
            .limit(1)
        )
    )


def policy_of(session: Session, brand_id: int) -> SignInPolicy | None:
    return session.get(SignInPolicy, brand_id)


def totp_status(session: Session, user_ids: list[int]) -> set[int]:
    """Which of these users have a confirmed second factor."""
    if not user_ids:
        return set()
    return set(
        session.scalars(
            select(TotpCredential.user_id).where(
                TotpCredential.user_id.in_(user_ids), TotpCredential.confirmed_at.is_not(None)
            )
        )
    )


def session_with_roles(
    session: Session, token_hash: str
) -> tuple[UserSession, User, dict[int, Role]] | None:
    """A live session, its (active) user and their {brand id: role}, in one query: the
    cost of every signed-in request."""
    rows = session.execute(
        select(UserSession, User, Membership.brand_id, Membership.role)
        .join(User, User.id == UserSession.user_id)
        .outerjoin(Membership, Membership.user_id == User.id)
        .where(UserSession.token_hash == token_hash, User.is_active.is_(True))
    ).all()
    if not rows:
        return None
    roles = {brand: role for _, _, brand, role in rows if brand is not None}
    return rows[0][0], rows[0][1], roles
