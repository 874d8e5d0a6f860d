"""A brand's closed days and its response targets per priority."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from earful.models.base import Base


class Holiday(Base):
    """A day the team is away, in the brand's time zone: no service hours that date."""

    __tablename__ = "holidays"

    brand_id: Mapped[int] = mapped_column(
        ForeignKey("brands.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")


class SlaPolicy(Base):
    """The first-response target of one priority (urgent, high, normal, low) in a brand;
    a priority without a row uses the brand's target response time."""

    __tablename__ = "sla_policies"

    brand_id: Mapped[int] = mapped_column(
        ForeignKey("brands.id", ondelete="CASCADE"), primary_key=True
    )
    priority: Mapped[str] = mapped_column(String(16), primary_key=True)
    target_minutes: Mapped[int] = mapped_column()
