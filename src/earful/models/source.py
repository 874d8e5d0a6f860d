"""A source: one connector instance (a file, a stream, an account) and its resume cursor."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from earful.models.base import Base, BigId, JsonDoc, UTCDateTime, utcnow


class Source(Base):
    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(500), unique=True)
    kind: Mapped[str] = mapped_column(String(64))
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    config: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    # Opaque to the pipeline; each connector defines what its cursor means.
    cursor: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32), default="idle")
    status_reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Paused by an admin: not heard until resumed (a running listener stops at its next batch).
    paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # When the source last brought something (posts, edits, deletions), and its last
    # failure: kept after it recovers, so an admin sees what went wrong and when.
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
