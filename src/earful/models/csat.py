"""Customer satisfaction surveys, and the brand's service posts at the hours' edges."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from earful.models.base import Base, BigId, UTCDateTime, utcnow


class CsatSettings(Base):
    """Whether a brand asks "How did we do?" after a conversation is resolved."""

    __tablename__ = "csat_settings"

    brand_id: Mapped[int] = mapped_column(
        ForeignKey("brands.id", ondelete="CASCADE"), primary_key=True
    )
    enabled: Mapped[bool] = mapped_column(default=False)
    # How long the survey's link can be answered.
    valid_days: Mapped[int] = mapped_column(default=7)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CsatSurvey(Base):
    """One survey per conversation: sent once, answered at most once."""

    __tablename__ = "csat_surveys"
    __table_args__ = (Index("ix_csat_surveys_brand_answered", "brand_id", "answered_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), unique=True
    )
    # Who answered the customer last (or held the conversation): the agent it rates.
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    network: Mapped[str] = mapped_column(String(32))  # where the customer wrote
    channel: Mapped[str] = mapped_column(String(16))  # reply | dm | email
    job_id: Mapped[int | None] = mapped_column(ForeignKey("outbound_jobs.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    score: Mapped[int | None] = mapped_column(SmallInteger)  # 1..5
    comment: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ShiftPostSettings(Base):
    """A brand's "We're here until 6 pm" / "We're away until 9 am Monday" posts."""

    __tablename__ = "shift_post_settings"

    brand_id: Mapped[int] = mapped_column(
        ForeignKey("brands.id", ondelete="CASCADE"), primary_key=True
    )
    enabled: Mapped[bool] = mapped_column(default=False)
    network: Mapped[str] = mapped_column(String(32), default="mastodon")
    # {until} is filled in: "6 pm" on opening, "9 am Monday" on closing.
    sign_on: Mapped[str | None] = mapped_column(Text)
    sign_off: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
