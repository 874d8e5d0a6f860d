"""Who wants what: each user's notification choices per brand, the targets that fail (for
the brand's admins), and the brand's event webhook endpoints. Never commits."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from earful.auth.service import Principal, audit
from earful.brands import service as brands
from earful.customers.service import EMAIL
from earful.engagement.service import requeue
from earful.errors import BadInput, NotFound
from earful.models import Brand, NotificationTarget, Role, WebhookEndpoint
from earful.notifications import repository as repo
from earful.notifications.events import EVENT_TYPES
from earful.notifications.quiet import clock, zone
from earful.notifications.schemas import ChannelIn, ChannelOut, PreferencesIn, PreferencesOut
from earful.sources.crypto import seal

CHANNELS = ("email", "chat", "browser")
EVENTS = ("spike", "sla", "assigned")
SECRET_BYTES = 32


def web_url(value: str | None, what: str) -> str:
    url = (value or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2000:
        raise BadInput(f"{what} must be an http(s) URL")
    return url


# ------------------------------------------------------------------ one user's choices


def preferences(session: Session, principal: Principal, slug: str) -> PreferencesOut:
    brand = brands.access_brand(session, principal, slug)
    rows = {t.channel: t for t in repo.targets_of(session, principal.user_id, brand.id)}
    any_row = next(iter(rows.values()), None)
    return PreferencesOut(
        brand=brand.slug,
        channels={
            c: ChannelOut(
                address=rows[c].address if c in rows else None,
                events=list(rows[c].events or []) if c in rows else [],
                failures=rows[c].failures if c in rows else 0,
                last_error=rows[c].last_error if c in rows else None,
                suspended=bool(rows[c].suspended_at) if c in rows else False,
            )
            for c in CHANNELS
        },
        quiet_start=any_row.quiet_start if any_row else None,
        quiet_end=any_row.quiet_end if any_row else None,
        timezone=any_row.timezone if any_row else "UTC",
        quiet_mode=any_row.quiet_mode if any_row else "hold",
    )


def _channel(name: str, given: ChannelIn, fallback_email: str) -> tuple[str | None, list[str]]:
    events = list(dict.fromkeys(given.events))
    unknown = set(events) - set(EVENTS)
    if unknown:
        raise BadInput(f"events are {', '.join(EVENTS)} (not {', '.join(sorted(unknown))})")
    address = (given.address or "").strip() or None
    if name == "email" and address and (len(address) > 254 or not EMAIL.match(address)):
        raise BadInput(f"{address!r} is not a valid email address")
    if name == "chat" and events:
        address = web_url(address, "the chat webhook")
    if name == "browser":
        address = None
    return address or (fallback_email if name == "email" else None), events


def save_preferences(
    session: Session, principal: Principal, slug: str, prefs: PreferencesIn
) -> PreferencesOut:
    """Replace this user's choices for the brand (checked whole before anything is saved)."""
    brand = brands.access_brand(session, principal, slug)
    unknown = set(prefs.channels) - set(CHANNELS)
    if unknown:
        raise BadInput(f"channels are {', '.join(CHANNELS)}")
    start = clock(prefs.quiet_start, "the start of quiet hours")
    end = clock(prefs.quiet_end, "the end of quiet hours")
    if bool(start) != bool(end):
        raise BadInput("quiet hours need both a start and an end")
    tz = zone(prefs.timezone).key
    if prefs.quiet_mode not in ("hold", "drop"):
        raise BadInput("during quiet hours messages are held or dropped")
    checked = {c: _channel(c, v, principal.email) for c, v in prefs.channels.items()}
    rows = {t.channel: t for t in repo.targets_of(session, principal.user_id, brand.id)}
    for name, (address, events) in checked.items():
        row = rows.get(name)
        if row is None:
            row = NotificationTarget(brand_id=brand.id, user_id=principal.user_id, channel=name,
                                     failures=0)  # fmt: skip
            session.add(row)
            rows[name] = row
        if row.address != address:  # a new address deserves a fresh start
            row.failures, row.last_error, row.suspended_at = 0, None, None
        row.address, row.events = address, events
    for row in rows.values():
        row.quiet_start, row.quiet_end, row.timezone, row.quiet_mode = (
            start,
            end,
            tz,
            prefs.quiet_mode,
        )
    session.flush()
    return preferences(session, principal, slug)


# ------------------------------------------------------------------ failing targets


@dataclass(slots=True, frozen=True)
class Trouble:
    id: int
    owner: str
    channel: str
    address: str | None
    failures: int
    last_error: str | None
    suspended: bool


def troubles(session: Session, principal: Principal, slug: str) -> list[Trouble]:
    """The brand's notification targets whose last messages failed (admins see these)."""
    brand = brands.access_brand(session, principal, slug, Role.ADMIN)
    return [
        Trouble(
            t.id, owner, t.channel, t.address, t.failures, t.last_error, t.suspended_at is not None
        )
        for t, owner in repo.troubled_targets(session, brand.id)
    ]


def resume_target(session: Session, principal: Principal, slug: str, target_id: int) -> None:
    """Try a suspended target again: its owner, or an admin of the brand."""
    brand = brands.access_brand(session, principal, slug)
    row = repo.target(session, target_id, [brand.id])
    if row is None or (
        row.user_id != principal.user_id and principal.roles.get(brand.id) != Role.ADMIN
    ):
        raise NotFound("no such notification target")
    row.failures, row.last_error, row.suspended_at = 0, None, None
    audit(session, principal, "notifications.resume", brand_id=brand.id,
          target=f"notification_target:{row.id}")  # fmt: skip
    session.flush()


# ------------------------------------------------------------------ event webhooks


def member_brand(session: Session, principal: Principal, slug: str) -> Brand:
    return brands.access_brand(session, principal, slug)


def admin_brand(session: Session, principal: Principal, slug: str) -> Brand:
    return brands.access_brand(session, principal, slug, Role.ADMIN)


def endpoints(session: Session, principal: Principal, slug: str) -> list[WebhookEndpoint]:
    brand = admin_brand(session, principal, slug)
    return repo.endpoints(session, [brand.id])


def add_endpoint(
    session: Session,
    principal: Principal | None,
    brand: Brand,
    url: str,
    events: list[str],
    secret_key: str,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (returned once; only its sealed form is kept)."""
    url = web_url(url, "the webhook URL")
    chosen = list(dict.fromkeys(e.strip() for e in events if e.strip())) or list(EVENT_TYPES)
    unknown = set(chosen) - set(EVENT_TYPES)
    if unknown:
        raise BadInput(f"event types are {', '.join(EVENT_TYPES)}")
    secret = "whsec_" + secrets.token_urlsafe(SECRET_BYTES)
    row = WebhookEndpoint(
        brand_id=brand.id, url=url, secret_sealed=seal({"secret": secret}, secret_key),
        events=chosen, failures=0, created_by=principal.user_id if principal else None,
    )  # fmt: skip
    session.add(row)
    session.flush()
    audit(session, principal, "settings.webhook_add", brand_id=brand.id,
          target=f"webhook:{row.id}", kind=",".join(chosen))  # fmt: skip
    return row, secret


def endpoint(session: Session, brand: Brand, endpoint_id: int) -> WebhookEndpoint:
    row = repo.endpoint(session, endpoint_id, [brand.id])
    if row is None:
        raise NotFound("no such webhook")
    return row


def remove_endpoint(
    session: Session, principal: Principal | None, brand: Brand, endpoint_id: int
) -> None:
    row = endpoint(session, brand, endpoint_id)
    session.delete(row)
    audit(session, principal, "settings.webhook_remove", brand_id=brand.id,
          target=f"webhook:{endpoint_id}")  # fmt: skip
    session.flush()


def resume_endpoint(
    session: Session, principal: Principal | None, brand: Brand, endpoint_id: int
) -> int:
    """Try a suspended endpoint again: what it missed (held or failed) is queued again,
    with the same keys and event ids. Returns how many deliveries were queued."""
    row = endpoint(session, brand, endpoint_id)
    row.failures, row.last_error, row.suspended_at = 0, None, None
    missed = repo.missed_deliveries(session, row.id)
    for delivery, job in missed:
        requeue(session, job)
        delivery.state, delivery.settled = "queued", False
    audit(session, principal, "settings.webhook_resume", brand_id=brand.id,
          target=f"webhook:{endpoint_id}", count=len(missed))  # fmt: skip
    session.flush()
    return len(missed)
