"""Team work on conversations: triage state, tags, notes, replies, views, canned replies."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, Float, ForeignKey, Index, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from earful.models.base import Base, BigId, JsonDoc, UTCDateTime, utcnow


class ConversationState(Base):
    """Per-conversation triage data, one row per conversation.

    Labels are those of the customer's latest post; ``waiting_since`` is the oldest
    customer post not yet answered by the brand (None when answered). ``priority_key``
    orders a brand's inbox by priority (see :mod:`earful.conversations.priority`).
    ``version`` grows with every change, so a reply can tell it is stale.

    ``status`` mirrors ``conversations.status`` (a trigger keeps it in step, whoever
    writes), so the inbox filters and sorts on this one table: the inbox index holds
    the sort key and then every column the first page filters on, and the page is read
    in key order straight from it.
    """

    __tablename__ = "conversation_states"
    __table_args__ = (
        Index(
            "ix_conversation_states_inbox",
            "brand_id",
            "priority_key",
            "conversation_id",
            "status",
            "network",
            "sentiment",
            "intent",
        ),
        Index("ix_conversation_states_brand_assignee", "brand_id", "assignee_id"),
    )

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="new", server_default="new")
    version: Mapped[int] = mapped_column(default=1)
    seen_post_count: Mapped[int] = mapped_column(default=0)
    network: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str | None] = mapped_column(String(16))
    sentiment: Mapped[str | None] = mapped_column(String(16))
    sentiment_score: Mapped[float | None] = mapped_column(Float)
    intent: Mapped[str | None] = mapped_column(String(16))
    urgency: Mapped[int | None] = mapped_column(SmallInteger)
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    priority_key: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConversationTag(Base):
    __tablename__ = "conversation_tags"
    __table_args__ = (Index("ix_conversation_tags_brand_tag", "brand_id", "tag"),)

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(64), primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))


class Note(Base):
    """An internal note: seen by the team, never by the customer."""

    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReplyStatus(enum.StrEnum):
    QUEUED = "queued"  # waits for the connector to send it
    HELD = "held"  # stale on collision: the agent must look again
    SENT = "sent"
    DISCARDED = "discarded"


class Reply(Base):
    """An outbound public reply, queued for the network's connector to send."""

    __tablename__ = "replies"
    __table_args__ = (Index("ix_replies_status", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[ReplyStatus] = mapped_column(
        Enum(
            ReplyStatus,
            native_enum=False,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    based_on_version: Mapped[int] = mapped_column()
    hold_reason: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SavedView(Base):
    """A user's named inbox filter."""

    __tablename__ = "saved_views"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    filters: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CannedReply(Base):
    """A brand's reply template; {customer}, {handle}, {agent}, {brand} are filled in."""

    __tablename__ = "canned_replies"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
