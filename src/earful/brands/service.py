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


def split_list(text: str) -> list[str]:
    """Keywords typed one a line or comma-separated, trimmed, without duplicates."""
    seen: list[str] = []
    for part in re.split(r"[\n,]", text or ""):
        word = " ".join(part.split())
        if word and word.lower() not in (s.lower() for s in seen):
            seen.append(word)
    return seen


def parse_handles(text: str) -> dict[str, list[str]]:
    """``x:AcmeHelp, mastodon:acme@social.example`` → {network: [handles]}."""
    handles: dict[str, list[str]] = {}
    for item in split_list(text):
        network, sep, handle = item.partition(":")
        if not sep or not network.strip() or not handle.strip():
            raise BrandError(f"{item!r}: write a handle as network:handle, e.g. x:AcmeHelp")
        handles.setdefault(network.strip().lower(), []).append(handle.strip().lstrip("@"))
    return handles


def update_brand(
    session: Session,
    brand: Brand,
    *,
    name: str | None = None,
    keywords: list[str] | None = None,
    handles: dict[str, list[str]] | None = None,
) -> Brand:
    """Rename a brand or change what it is called and where it answers (the matcher and
    the brand's own-account check follow on the next batch)."""
    if name is not None:
        name = " ".join(name.split())
        if not name or len(name) > 200:
            raise BrandError("a brand's name is 1 to 200 characters")
        brand.name = name
    if keywords is not None:
        if not keywords:
            raise BrandError("a brand needs at least one keyword (its name, say)")
        brand.keywords = keywords
    if handles is not None:
        brand.handles = handles
    session.flush()
    return brand
