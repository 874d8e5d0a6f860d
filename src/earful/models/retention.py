"""How long a brand keeps its conversations, and erasures asked for but not yet done."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from earful.models.base import Base, BigId, UTCDateTime, utcnow

RETENTION_MODES = ("delete", "anonymise")


class RetentionPolicy(Base):
    """Conversations quiet for more than ``days`` are deleted or anonymised."""

    __tablename__ = "retention_policies"

    brand_id: Mapped[int] = mapped_column(
        ForeignKey("brands.id", ondelete="CASCADE"), primary_key=True
    )
    mode: Mapped[str] = mapped_column(String(16))  # one of RETENTION_MODES
    days: Mapped[int] = mapped_column()
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ErasureRequest(Base):
    """An erasure recorded before it starts, so one cut short (a killed process) is
    finished by the next ``earful customers erase --resume``. Holds the identity's row id
    only: nothing of the customer once it is done."""

    __tablename__ = "erasure_requests"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    identity_id: Mapped[int] = mapped_column(BigId)
    requested_by: Mapped[str] = mapped_column(String(320))  # a user's email, or "cli"
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
