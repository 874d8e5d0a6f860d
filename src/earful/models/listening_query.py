"""A listening query: what a brand listens for, in the query language of ``listening``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from earful.models.base import Base, BigId, UTCDateTime, utcnow


class ListeningQuery(Base):
    __tablename__ = "listening_queries"
    __table_args__ = (UniqueConstraint("brand_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The unique (brand_id, name) index also serves "all queries of a brand".
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    # Validated by the parser when saved; the matcher never sees a bad query.
    query: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
