"""A post heard on a network, with its references and (later) its labels."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql import text

from earful.models.base import Base, BigId, UTCDateTime, utcnow


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (
        UniqueConstraint("network", "external_id"),
        # Finds the children that arrived before their parent. Partial: most posts are
        # not replies, and every index costs ingest time.
        Index(
            "ix_posts_reply_to",
            "network",
            "reply_to_external_id",
            sqlite_where=text("reply_to_external_id IS NOT NULL"),
            postgresql_where=text("reply_to_external_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    network: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(200))
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id"), index=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    url: Mapped[str | None] = mapped_column(Text)
    reply_to_external_id: Mapped[str | None] = mapped_column(String(200))
    quote_of_external_id: Mapped[str | None] = mapped_column(String(200))
    repost_of_external_id: Mapped[str | None] = mapped_column(String(200))
    # True when written by one of a brand's own accounts (an outbound answer).
    from_brand: Mapped[bool] = mapped_column(default=False)
    # A direct message (ours, sent on a handoff): shown as such, never answered in public.
    private: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The payload as received (UTF-8 JSON or CSV bytes), kept for reprocessing and audits.
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Labels, filled by the classify stage; model_version lets `reclassify` find stale rows.
    sentiment: Mapped[str | None] = mapped_column(String(16))
    sentiment_score: Mapped[float | None] = mapped_column(Float)
    intent: Mapped[str | None] = mapped_column(String(16))
    intent_score: Mapped[float | None] = mapped_column(Float)
    urgency: Mapped[int | None] = mapped_column(SmallInteger)
    urgency_score: Mapped[float | None] = mapped_column(Float)
    model_version: Mapped[str | None] = mapped_column(String(64))
    # The second tier's version when it relabeled sentiment, intent and urgency after the
    # commit (see pipeline.second_tier); None: the fast tier's labels (model_version).
    tier2_version: Mapped[str | None] = mapped_column(String(64))
    # The network said the author deleted it: kept for the record, never shown as live.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The author edited it; ``text`` holds the newest version.
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
