"""Customers and their identities: one account per network, linked to one customer."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from earful.models.base import Base, BigId, UTCDateTime, utcnow

# The external id of an account known by its handle only, until it writes: a customer
# named it ("my X handle is @foo"); see earful.customers.links.
PENDING = "pending:@"


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(320))
    preferred_channel: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Identity(Base):
    """An author account on one network. Follower count is kept but never used to triage."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("network", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    network: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(200))
    handle: Mapped[str | None] = mapped_column(String(200))
    display_name: Mapped[str | None] = mapped_column(String(300))
    customer_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def erasure_key(kind: str, network: str, external_id: str) -> str:
    """The tombstone key of an account (``kind="author"``) or a post (``"post"``)."""
    return hashlib.sha256(f"{kind}\0{network}\0{external_id}".encode()).hexdigest()


TOKEN = re.compile(rb"[\w.@+-]{3,}")


def marker_keys(raw: bytes) -> set[str]:
    """Tombstone keys of the words of a raw record that cannot be parsed (a handle, an id,
    an email in it): how a dead letter naming an erased customer is recognised."""
    return {
        erasure_key("marker", "", token.decode("utf-8", "replace").lower())
        for token in set(TOKEN.findall(raw[:100_000]))
    }


class Erasure(Base):
    """A tombstone: an erased customer's account or post, so that a replay or a late event
    never brings it back. Only a hash of the network and id is kept, not the id itself."""

    __tablename__ = "erasures"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex
    kind: Mapped[str] = mapped_column(String(16))  # "author" or "post"
    erased_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LinkSuggestion(Base):
    """Two accounts that seem to be one customer (an email answering a handoff sent to
    @handle, say): shown to agents until one links them or dismisses the suggestion."""

    __tablename__ = "link_suggestions"
    __table_args__ = (UniqueConstraint("brand_id", "identity_id", "other_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    identity_id: Mapped[int] = mapped_column(
        ForeignKey("identities.id", ondelete="CASCADE"), index=True
    )
    other_id: Mapped[int] = mapped_column(
        ForeignKey("identities.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="open")  # open|linked|dismissed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
