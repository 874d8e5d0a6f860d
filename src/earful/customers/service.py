"""Engagement logic: signed replies, compliments, the preferred channel, job state.

Never commits: the request (or the worker's job) owns the transaction. Every action is
an :class:`OutboundJob`; nothing here talks to a network.
"""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from earful.auth.service import Principal
from earful.conversations import repository as conversations_repo
from earful.conversations.service import access_conversation
from earful.errors import BadInput
from earful.models import (
    Conversation,
    Customer,
    Identity,
    Role,
)

CHANNELS = ("public", "dm", "email", "phone")


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"


EMAIL = re.compile(rf"^[^@\s<>(),;:\"\[\]]{{1,64}}@{_LABEL}(?:\.{_LABEL})+$")


def clean_email(address: str) -> str:
    address = (address or "").strip()
    if not address:
        raise BadInput("this customer has no email address; add one to their profile first")
    if len(address) > 254 or not EMAIL.match(address):
        raise BadInput(f"{address!r} is not a valid email address")
    return address


def customer_of(session: Session, conv: Conversation, create: bool = False) -> Customer | None:
    ident = session.get(Identity, conv.identity_id)
    if ident is None:
        return None
    if ident.customer_id:
        return session.get(Customer, ident.customer_id)
    if not create:
        return None
    customer = Customer(display_name=ident.display_name or ident.handle)
    session.add(customer)
    session.flush()
    ident.customer_id = customer.id
    return customer


def set_preferred_channel(
    session: Session,
    principal: Principal,
    conv_id: int,
    channel: str,
    email: str | None = None,
) -> Customer:
    conv = access_conversation(session, principal, conv_id, Role.AGENT)
    if channel not in CHANNELS:
        raise BadInput(f"the preferred channel is one of {', '.join(CHANNELS)}")
    customer = customer_of(session, conv, create=True)
    assert customer is not None
    if email is not None and email.strip():
        customer.email = clean_email(email)
    if channel == "email" and not customer.email:
        raise BadInput("to prefer email, give the customer's email address")
    customer.preferred_channel = channel
    conversations_repo.bump_version(session, conv.id)
    session.flush()
    return customer
