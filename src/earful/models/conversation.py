"""A conversation: one brand's thread with one customer, and its posts."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from earful.models.base import Base, BigId, UTCDateTime, utcnow


class ConversationStatus(enum.StrEnum):
    NEW = "new"
    OPEN = "open"
    WAITING = "waiting"  # waiting on the customer
    RESOLVED = "resolved"


OPEN_STATUSES = (ConversationStatus.NEW, ConversationStatus.OPEN, ConversationStatus.WAITING)


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_brand_status", "brand_id", "status"),
        # One conversation per brand per starting post: lets the ingest path insert
        # conversations in bulk and find their ids again, and keeps racing writers honest.
        UniqueConstraint("brand_id", "root_post_id"),
        # A customer's conversations (threading looks them up by author on every batch).
        Index("ix_conversations_customer", "identity_id", "brand_id"),
        # A day's arrivals per brand (the ETA's overtaking estimate).
        Index("ix_conversations_brand_first_post", "brand_id", "first_post_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    # The customer who started it (the brand's own account never starts one).
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id"))
    status: Mapped[ConversationStatus] = mapped_column(
        Enum(
            ConversationStatus,
            native_enum=False,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=ConversationStatus.NEW,
    )
    subject: Mapped[str | None] = mapped_column(String(200))
    first_post_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_post_at: Mapped[datetime] = mapped_column(UTCDateTime)
    post_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The post that started it (no foreign key: posts may be purged, the thread stays).
    root_post_id: Mapped[int | None] = mapped_column(BigId)
    # A private channel (a DM, Messenger, a support email): answered there, never in public.
    private: Mapped[bool] = mapped_column(default=False, server_default=false())


class ConversationPost(Base):
    """Membership of a post in a brand's conversation (a post may concern several brands)."""

    __tablename__ = "conversation_posts"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    post_id: Mapped[int] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
