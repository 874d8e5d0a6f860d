"""A brand: the company whose mentions a team listens to and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from earful.models.base import Base, BigId, JsonDoc, UTCDateTime, utcnow


class Brand(Base):
    __tablename__ = "brands"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Placeholder listening: plain keywords; the query language lives in listening/.
    keywords: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    # The brand's own accounts, {network: [handle, ...]}: their posts are the brand's replies.
    handles: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    target_response_minutes: Mapped[int] = mapped_column(default=60)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
