"""Brand queries."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    select,
)
from sqlalchemy.orm import Session

from earful.models import (
    Brand,
)


def by_slug(session: Session, slug: str) -> Brand | None:
    return session.scalar(select(Brand).where(Brand.slug == slug))


def all_brands(session: Session) -> list[Brand]:
    return list(session.scalars(select(Brand).order_by(Brand.slug)))


def get_readable(session: Session, slug: str, brand_ids: Sequence[int]) -> Brand | None:
    return session.scalar(select(Brand).where(Brand.slug == slug, Brand.id.in_(brand_ids)))


def readable(session: Session, brand_ids: Sequence[int]) -> list[Brand]:
    if not brand_ids:
        return []
    return list(session.scalars(select(Brand).where(Brand.id.in_(brand_ids)).order_by(Brand.name)))
