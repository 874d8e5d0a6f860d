"""Saved (canned) replies: a brand's texts with {customer}, {handle}, {agent}, {brand}.
Never commits."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from earful.auth.access import access_brand_id
from earful.auth.service import Principal
from earful.brands.service import access_brand
from earful.conversations.service import access_conversation
from earful.customers import repository as customers_repo
from earful.engagement import repository as repo
from earful.errors import BadInput, NotFound
from earful.models import (
    Brand,
    CannedReply,
    Conversation,
    Role,
)

VARIABLE = re.compile(r"\{(customer|handle|agent|brand)\}")


def render_canned(body: str, *, customer: str, handle: str, agent: str, brand: str) -> str:
    values = {"customer": customer, "handle": handle, "agent": agent, "brand": brand}
    return VARIABLE.sub(lambda m: values[m.group(1)], body)


def canned_for(
    session: Session, principal: Principal, conv_id: int, canned_id: int
) -> tuple[Conversation, str]:
    conv = access_conversation(session, principal, conv_id, Role.AGENT)
    canned = access_canned(session, principal, canned_id)
    if canned.brand_id != conv.brand_id:
        raise BadInput("this canned reply belongs to another brand")
    ident, _, _ = customers_repo.identity_and_customer(session, conv.identity_id)
    brand = session.get(Brand, conv.brand_id)
    assert brand is not None
    handle = f"@{ident.handle}" if ident.handle else ""
    text = render_canned(
        canned.body,
        customer=(ident.display_name or ident.handle or "there"),
        handle=handle,
        agent=principal.name.split()[0] if principal.name else "",
        brand=brand.name,
    )
    return conv, text


def create_canned(
    session: Session, principal: Principal, brand_slug: str, name: str, body: str
) -> CannedReply:
    brand = access_brand(session, principal, brand_slug, Role.ADMIN)
    if not name.strip() or not body.strip():
        raise BadInput("a canned reply needs a name and a body")
    canned = CannedReply(brand_id=brand.id, name=name.strip()[:100], body=body.strip())
    session.add(canned)
    session.flush()
    return canned


def delete_canned(session: Session, principal: Principal, canned_id: int) -> None:
    canned = access_canned(session, principal, canned_id)
    access_brand_id(principal, canned.brand_id, Role.ADMIN)
    session.delete(canned)
    session.flush()


def access_canned(
    session: Session, principal: Principal, canned_id: int, need: Role = Role.VIEWER
) -> CannedReply:
    canned = repo.get_readable_canned(session, canned_id, principal.brand_ids())
    if canned is None:
        raise NotFound("no such canned reply")
    access_brand_id(principal, canned.brand_id, need)
    return canned
