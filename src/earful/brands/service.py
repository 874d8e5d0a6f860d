"""Brand logic. Takes a session, never commits: the caller owns the transaction."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from earful.auth.access import access_brand_id
from earful.auth.service import Principal
from earful.brands import repository
from earful.errors import BadInput, NotFound
from earful.models import Brand, Role

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class BrandError(BadInput):
    """A brand that cannot be created as asked (a bad slug)."""


class BrandExists(BrandError):
    status_code = 409
    title = "A brand with that slug exists"


def slugify(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64]


def create_brand(
    session: Session,
    slug: str,
    name: str | None = None,
    keywords: list[str] | None = None,
    handles: dict[str, list[str]] | None = None,
    target_response_minutes: int = 60,
) -> Brand:
    if not SLUG.match(slug):
        raise BrandError(f"brand slug {slug!r} must be lower-case letters, digits and dashes")
    if repository.by_slug(session, slug) is not None:
        raise BrandExists(f"brand {slug!r} already exists")
    brand = Brand(
        slug=slug,
        name=name or slug,
        keywords=keywords if keywords is not None else [name or slug],
        handles=handles or {},
        target_response_minutes=target_response_minutes,
    )
    session.add(brand)
    session.flush()
    return brand


def ensure_brand(session: Session, slug: str) -> Brand:
    """The brand with this slug, created with its name as keyword if it does not exist."""
    slug = slugify(slug) or slug
    return repository.by_slug(session, slug) or create_brand(session, slug)


def access_brand(
    session: Session, principal: Principal, slug: str, need: Role = Role.VIEWER
) -> Brand:
    """The brand with this slug, if the principal is a member with at least ``need``."""
    brand = repository.get_readable(session, slug, principal.brand_ids())
    if brand is None:
        raise NotFound("no such brand")
    access_brand_id(principal, brand.id, need)
    return brand
