"""Input that could not be processed: kept byte for byte with the reason, never dropped."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from earful.models.base import Base, BigId, UTCDateTime, utcnow


class DeadLetter(Base):
    __tablename__ = "dead_letters"
    # The same bad line of the same source is kept once, however often it is re-read.
    __table_args__ = (UniqueConstraint("origin", "position"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    origin: Mapped[str] = mapped_column(String(500))  # e.g. the source name
    position: Mapped[str] = mapped_column(String(100))  # e.g. "line 42"
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
