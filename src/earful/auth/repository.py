"""Account queries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from earful.models import ApiToken, Brand, Membership, Role, SignInThrottle, User


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
