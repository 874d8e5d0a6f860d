"""Brand queries."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from earful.models import Brand


def by_slug(session: Session, slug: str) -> Brand | None:
    return session.scalar(select(Brand).where(Brand.slug == slug))


def all_brands(session: Session) -> list[Brand]:
    return list(session.scalars(select(Brand).order_by(Brand.slug)))
