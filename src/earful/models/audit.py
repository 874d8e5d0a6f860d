"""The audit log: who did what, when and from where. Append-only; never post text or
secrets (``details`` holds ids, statuses, channel names and counts)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from earful.models.base import Base, BigId, JsonDoc, UTCDateTime, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_brand_at", "brand_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # None for events outside any brand (a sign-in, a user switched off).
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    # Kept when the user is deleted: the log says who, by the email recorded at the time.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(320))  # the user's email, or "cli", "system"
    address: Mapped[str | None] = mapped_column(String(64))  # the client's address
    action: Mapped[str] = mapped_column(String(64))  # e.g. "conversation.assign"
    target: Mapped[str | None] = mapped_column(String(128))  # e.g. "conversation:42"
    details: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
