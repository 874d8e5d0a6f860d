"""Agents' corrections of a post's labels (sentiment, intent, urgency)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from earful.models.base import Base, BigId, UTCDateTime, utcnow


class LabelCorrection(Base):
    """One change of one label by one agent: who, when, old → new.

    The post's own column holds the corrected value (so the inbox reads it at once); these
    rows are the history, what the post shows ("corrected by Ana") and what
    ``earful train export-corrections`` writes out. The latest row per (post, field) wins
    over any later relabeling by a model.
    """

    __tablename__ = "label_corrections"
    __table_args__ = (Index("ix_label_corrections_post", "post_id", "field"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    field: Mapped[str] = mapped_column(String(16))
    old_value: Mapped[str | None] = mapped_column(String(16))
    new_value: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
