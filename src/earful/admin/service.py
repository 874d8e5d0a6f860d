"""Running a brand from the browser: the same services the CLI calls, behind the admin
role, each change recorded in the audit log. Never commits."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from earful.auth import repository as users_repo
from earful.auth.service import Principal, audit, create_user, grant, remove_member
from earful.brands import service as brands
from earful.csat import service as csat_service
from earful.engagement import acknowledge, hours, settings, shifts
from earful.engagement import repository as engagement_repo
from earful.errors import BadInput, Conflict, NotFound
from earful.listening import repository as queries_repo
from earful.listening import service as listening
from earful.listening.explain import explain, text_post
from earful.listening.parser import QuerySyntaxError, parse
from earful.models import Brand, EngagementSettings, ListeningQuery, Role
from earful.models.base import utcnow

SPAN = re.compile(r"^\s*(\d{1,2}:\d{2})\s*[-–]\s*(\d{1,2}:\d{2})\s*$")


def admin_brand(session: Session, principal: Principal, slug: str) -> Brand:
    return brands.access_brand(session, principal, slug, Role.ADMIN)


# ------------------------------------------------------------------ the brand


def create(session: Session, principal: Principal, slug: str, name: str) -> Brand:
    """A new brand; whoever creates it is its first admin."""
    if not slug.strip():
        raise BadInput("give the brand a short name for its addresses, e.g. acme")
    brand = brands.create_brand(session, slug.strip().lower(), name.strip() or None)
    grant(session, principal.user_id, brand.id, Role.ADMIN)
    audit(session, principal, "brand.create", brand_id=brand.id, target=f"brand:{brand.slug}")
    return brand


def update(
    session: Session, principal: Principal, slug: str, name: str, keywords: str, handles: str
) -> Brand:
    brand = admin_brand(session, principal, slug)
    brands.update_brand(
        session,
        brand,
        name=name,
        keywords=brands.split_list(keywords),
        handles=brands.parse_handles(handles),
    )
    audit(session, principal, "settings.brand", brand_id=brand.id, target=f"brand:{slug}",
          fields="name,keywords,handles")  # fmt: skip
    return brand


# ------------------------------------------------------------------ service hours


def parse_day(day: str, text: str) -> list[list[str]]:
    """``09:00-12:30, 13:30-17:00`` → [["09:00", "12:30"], ["13:30", "17:00"]]; "" is closed."""
    spans = []
    for part in [p for p in text.split(",") if p.strip()]:
        m = SPAN.match(part)
        if not m:
            raise BadInput(f"service hours on {day}: write spans like 09:00-17:00, not {part!r}")
        spans.append([m.group(1).zfill(5), m.group(2).zfill(5)])
    return spans


def set_hours(
    session: Session,
    principal: Principal,
    slug: str,
    *,
    timezone: str,
    always: bool,
    days: dict[str, str],
    target_minutes: int,
    auto_ack: bool,
    ack_backlog: int,
) -> EngagementSettings:
    brand = admin_brand(session, principal, slug)
    if always and any(text.strip() for text in days.values()):
        raise BadInput("choose around the clock or give hours, not both")
    spans = {} if always else {d: s for d in hours.DAYS if (s := parse_day(d, days.get(d, "")))}
    if not always and not spans:
        raise BadInput("give at least one day's hours, or choose around the clock")
    saved = acknowledge.set_hours(
        session, brand.id, timezone=timezone.strip(), spans=spans, auto_ack=auto_ack,
        ack_backlog=ack_backlog, target_minutes=target_minutes,
    )  # fmt: skip
    audit(session, principal, "settings.hours", brand_id=brand.id, target=f"brand:{slug}",
          fields="timezone,hours,target,auto_ack")  # fmt: skip
    return saved


def day_text(spans: list[list[str]] | None) -> str:
    return ", ".join(f"{a}-{b}" for a, b in spans or [])


# ------------------------------------------------------------------ signing, public page


def set_signing(
    session: Session,
    principal: Principal,
    slug: str,
    *,
    signature_format: str,
    thank_text: str,
    rules: settings.Rules,
) -> EngagementSettings:
    brand = admin_brand(session, principal, slug)
    if not signature_format.strip():
        raise BadInput("agents need a signature format, e.g. ^{initials}")
    saved = settings.set_signing(
        session, brand.id, signature_format=signature_format, thank_template=thank_text,
        rules=rules,
    )  # fmt: skip
    audit(session, principal, "settings.signing", brand_id=brand.id, target=f"brand:{slug}",
          fields="signature_format,thank_template,compliment_rules")  # fmt: skip
    return saved


def set_public(
    session: Session, principal: Principal, slug: str, *, published: bool, contact: str
) -> EngagementSettings:
    brand = admin_brand(session, principal, slug)
    saved = settings.set_public_page(session, brand.id, published=published, contact=contact)
    audit(session, principal, "settings.public_page", brand_id=brand.id,
          target=f"brand:{slug}", result="on" if published else "off")  # fmt: skip
    return saved


def customer_posts_of(session: Session, brand: Brand) -> dict[str, object]:
    """The survey and sign-on/off settings, for the settings page."""
    return {"csat": csat_service.settings(session, brand.id),
            "shift": shifts.shift_settings(session, brand.id),
            "shift_defaults": (shifts.DEFAULT_ON, shifts.DEFAULT_OFF)}  # fmt: skip


def set_customer_posts(
    session: Session, principal: Principal, slug: str, *, csat: bool, csat_days: int,
    shift_posts: bool, network: str, sign_on: str, sign_off: str,
) -> None:  # fmt: skip
    brand = admin_brand(session, principal, slug)
    csat_service.set_csat(session, brand.id, enabled=csat, valid_days=csat_days)
    shifts.set_shift_posts(session, brand.id, enabled=shift_posts, network=network,
                           sign_on=sign_on, sign_off=sign_off)  # fmt: skip
    audit(session, principal, "settings.csat", brand_id=brand.id, target=f"brand:{slug}",
          result="on" if csat else "off", count=csat_days)  # fmt: skip
    audit(session, principal, "settings.shift_posts", brand_id=brand.id,
          target=f"brand:{slug}", result="on" if shift_posts else "off",
          network=network)  # fmt: skip


def engagement_of(session: Session, brand: Brand) -> EngagementSettings:
    return engagement_repo.settings(session, brand.id)


# ------------------------------------------------------------------ the team


@dataclass(slots=True, frozen=True)
class NewMember:
    email: str
    password: str | None  # set when the account was created now: shown once


def add_member(
    session: Session, principal: Principal, slug: str, email: str, name: str, role: Role
) -> NewMember:
    """Give someone a role in the brand, creating their account if they have none."""
    brand = admin_brand(session, principal, slug)
    email = email.strip().lower()
    user = users_repo.user_by_email(session, email)
    password = None
    if user is None:
        password = secrets.token_urlsafe(12)
        user = create_user(session, email, name.strip() or email.split("@")[0], password)
    grant(session, user.id, brand.id, role)
    audit(session, principal, "user.grant", brand_id=brand.id, target=f"user:{user.id}",
          role=role.value)  # fmt: skip
    return NewMember(email, password)


def change_role(
    session: Session, principal: Principal, slug: str, member_id: int, role: Role | None
) -> None:
    """A new role, or ``None`` to remove them from the brand (never the last admin)."""
    brand = admin_brand(session, principal, slug)
    members = members_of(session, brand)
    if member_id not in {uid for uid, _, _, _ in members}:
        raise NotFound("no such member of this brand")
    admins = [uid for uid, _, _, r in members if r == Role.ADMIN]
    if admins == [member_id] and role != Role.ADMIN:
        raise Conflict("a brand keeps at least one admin: make someone else admin first")
    if role is None:
        remove_member(session, member_id, brand.id)
        audit(session, principal, "user.remove", brand_id=brand.id, target=f"user:{member_id}")
    else:
        grant(session, member_id, brand.id, role)
        audit(session, principal, "user.grant", brand_id=brand.id, target=f"user:{member_id}",
              role=role.value)  # fmt: skip


def members_of(session: Session, brand: Brand) -> list[tuple[int, str, str, Role]]:
    """(user id, name, email, role) of the brand's members."""
    return users_repo.members_with_roles(session, brand.id)


# ------------------------------------------------------------------ listening queries


@dataclass(slots=True, frozen=True)
class PreviewHit:
    conversation_id: int
    network: str
    handle: str | None
    text: str
    at: datetime
    spans: list[tuple[int, int]]


@dataclass(slots=True, frozen=True)
class Preview:
    error: str | None
    column: int | None
    hits: list[PreviewHit]
    tried: int


def preview(session: Session, principal: Principal, slug: str, text: str) -> Preview:
    """What a query would match among the brand's posts of the last 24 hours, before it is
    saved; or where its syntax is wrong."""
    brand = admin_brand(session, principal, slug)
    try:
        query = parse(text)
    except QuerySyntaxError as exc:
        return Preview(exc.message, exc.column, [], 0)
    posts = queries_repo.recent_brand_posts(session, brand.id, utcnow() - timedelta(hours=24))
    hits = []
    for conv_id, network, body, handle, language, at in posts:
        why = explain(
            text_post(body, network=network, author_handle=handle, language=language), query
        )
        if why.matched:
            spans = sorted((h.start, h.end) for h in why.hits if h.end > h.start)
            hits.append(PreviewHit(conv_id, network, handle, body, at, spans))
    return Preview(None, None, hits, len(posts))


def queries_of(session: Session, brand: Brand) -> list[ListeningQuery]:
    return queries_repo.for_brands(session, [brand.id])


def add_query(
    session: Session, principal: Principal, slug: str, name: str, text: str
) -> ListeningQuery:
    brand = admin_brand(session, principal, slug)
    saved = listening.add_query(session, brand.id, name, text)
    audit(session, principal, "settings.query_add", brand_id=brand.id,
          target=f"query:{saved.id}")  # fmt: skip
    return saved


def switch_query(
    session: Session, principal: Principal, slug: str, query_id: int, delete: bool = False
) -> None:
    brand = admin_brand(session, principal, slug)
    row = queries_repo.get_readable(session, query_id, [brand.id])
    if row is None:
        raise listening.QueryNotFound("no such listening query")
    if delete:
        listening.delete_query(session, row.id)
    else:
        listening.update_query(session, row.id, enabled=not row.enabled)
    audit(session, principal, "settings.query_delete" if delete else "settings.query_switch",
          brand_id=brand.id, target=f"query:{query_id}")  # fmt: skip
