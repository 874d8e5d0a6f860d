"""A spike of (negative) mentions of a brand, raised by the detector over the stream."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Integer, PrimaryKeyConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from earful.models.base import Base, BigId, JsonDoc, UTCDateTime, utcnow


class Alert(Base):
    __tablename__ = "alerts"
    # One alert per brand, kind and window, however often the window is re-examined.
    __table_args__ = (UniqueConstraint("brand_id", "kind", "window_start"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # "negative" or "volume"
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    observed: Mapped[int] = mapped_column(Integer)
    expected: Mapped[float] = mapped_column(Float)
    ratio: Mapped[float] = mapped_column(Float)  # observed / expected
    # -log10 of the Poisson tail probability of seeing this many under the baseline.
    surprise: Mapped[float] = mapped_column(Float)
    # Ids of the posts in the spiking window (the first ones, capped), for the alert view.
    post_ids: Mapped[list[Any]] = mapped_column(JsonDoc, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL", name="fk_alerts_acknowledged_by")
    )


class MentionCount(Base):
    """Customer mentions of a brand per time window and kind, kept up by each batch.

    The spike detector reads these few rows instead of re-counting a day of posts on every
    batch, so its cost does not grow with the history.
    """

    __tablename__ = "mention_counts"
    __table_args__ = (PrimaryKeyConstraint("brand_id", "kind", "window_start"),)

    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))  # "negative" or "volume"
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    count: Mapped[int] = mapped_column(Integer, default=0)
