"""The desk's own settings for a brand's admins: live sources, holidays, SLA targets per
priority, agents' signatures, the retention window. Each calls the service the CLI calls,
behind the admin role, and records the change in the audit log. Never commits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from earful.admin.service import admin_brand, members_of
from earful.auth.service import Principal, audit
from earful.conversations import sla
from earful.customers import retention
from earful.engagement import holidays, settings
from earful.engagement import repository as engagement_repo
from earful.errors import BadInput, NotFound
from earful.models import Holiday
from earful.sources import service as sources
from earful.sources.service import SourceNotFound, SourceView

# ------------------------------------------------------------------ live sources


def sources_of(session: Session, principal: Principal, slug: str) -> list[SourceView]:
    brand = admin_brand(session, principal, slug)
    return sources.list_sources(session, [brand.id])


def add_source(
    session: Session,
    principal: Principal,
    slug: str,
    *,
    kind: str,
    name: str,
    form: Mapping[str, Any],
    secret_key: str,
) -> SourceView:
    """A source from the per-network form (``set_<field>`` as declared in
    ``connectors.fields``), added through the same service as ``earful sources add``."""
    brand = admin_brand(session, principal, slug)
    if not name.strip():
        raise BadInput("give the source a name, e.g. acme-mastodon")
    added = sources.add_source(
        session, kind=kind, name=name.strip(), brand_id=brand.id,
        settings=sources.form_settings(kind, form), secret_key=secret_key,
    )  # fmt: skip
    audit(session, principal, "source.add", brand_id=brand.id, target=f"source:{added.id}",
          kind=kind)  # fmt: skip
    return added


def change_source(
    session: Session, principal: Principal, slug: str, source_id: int, action: str
) -> str:
    """Pause, resume or delete one of the brand's sources; returns what was done."""
    brand = admin_brand(session, principal, slug)
    if not any(s.id == source_id for s in sources.list_sources(session, [brand.id])):
        raise SourceNotFound("no such source in this brand")
    if action == "delete":
        sources.delete_source(session, source_id)
    elif action in ("pause", "resume"):
        sources.set_paused(session, source_id, action == "pause")
    else:
        raise BadInput("the action is pause, resume or delete")
    audit(session, principal, f"source.{action}", brand_id=brand.id,
          target=f"source:{source_id}")  # fmt: skip
    return {"delete": "deleted", "pause": "paused", "resume": "resumed"}[action]


# ------------------------------------------------------------------ holidays, SLA targets


def holidays_of(session: Session, principal: Principal, slug: str) -> list[Holiday]:
    return holidays.holidays_of(session, admin_brand(session, principal, slug).id)


def add_holiday(session: Session, principal: Principal, slug: str, day: str, name: str) -> Holiday:
    brand = admin_brand(session, principal, slug)
    row = holidays.add_holiday(session, brand.id, holidays.parse_day(day), name)
    audit(session, principal, "settings.holiday_add", brand_id=brand.id,
          target=f"brand:{slug}", result=row.day.isoformat())  # fmt: skip
    return row


def remove_holiday(session: Session, principal: Principal, slug: str, day: str) -> date:
    brand = admin_brand(session, principal, slug)
    found = holidays.parse_day(day)
    holidays.remove_holiday(session, brand.id, found)
    audit(session, principal, "settings.holiday_remove", brand_id=brand.id,
          target=f"brand:{slug}", result=found.isoformat())  # fmt: skip
    return found


@dataclass(slots=True, frozen=True)
class Target:
    priority: str
    minutes: int | None  # None: the brand's target response time


def targets_of(session: Session, principal: Principal, slug: str) -> list[Target]:
    brand = admin_brand(session, principal, slug)
    set_ = sla.targets_of(session, [brand.id])
    return [Target(p, set_.get((brand.id, p))) for p in sla.PRIORITIES]


def set_targets(
    session: Session, principal: Principal, slug: str, minutes: dict[str, int | None]
) -> None:
    """Each priority's target; ``None`` (an empty field) is the brand's target."""
    brand = admin_brand(session, principal, slug)
    for priority, value in minutes.items():
        sla.set_target(session, brand.id, priority, value)
    audit(session, principal, "settings.sla", brand_id=brand.id, target=f"brand:{slug}",
          fields=",".join(sorted(minutes)))  # fmt: skip


# ------------------------------------------------------------------ agents' signatures


def signatures_of(session: Session, principal: Principal, slug: str) -> dict[int, str]:
    brand = admin_brand(session, principal, slug)
    return {
        uid: sig
        for uid, _, _, _ in members_of(session, brand)
        if (sig := engagement_repo.signature_override(session, brand.id, uid))
    }


def set_signature(
    session: Session, principal: Principal, slug: str, member_id: int, signature: str
) -> None:
    """A member's own signature in this brand; empty goes back to the brand's format."""
    brand = admin_brand(session, principal, slug)
    if member_id not in {uid for uid, _, _, _ in members_of(session, brand)}:
        raise NotFound("no such member of this brand")
    settings.set_agent_signature(session, brand.id, member_id, signature)
    audit(session, principal, "settings.agent_signature", brand_id=brand.id,
          target=f"user:{member_id}")  # fmt: skip


# ------------------------------------------------------------------ the retention window


def retention_of(session: Session, principal: Principal, slug: str) -> retention.RetentionView:
    return retention.view(session, admin_brand(session, principal, slug))


def set_retention(session: Session, principal: Principal, slug: str, mode: str, days: str) -> int:
    """The window the CLI's ``earful retention set`` sets (audited there); returns the days."""
    brand = admin_brand(session, principal, slug)
    try:
        whole = int(days.strip())
    except ValueError:
        raise BadInput(f"retention days must be a whole number, not {days[:20]!r}") from None
    retention.set_policy(session, principal, brand, mode, whole)
    return whole


def clear_retention(session: Session, principal: Principal, slug: str) -> None:
    retention.clear_policy(session, principal, admin_brand(session, principal, slug))
