"""Notifications to people (email, chat webhook, browser) and event webhooks to integrators.

Neither table keeps a customer's words: notifications carry ids and counts, event rows
carry ids and types; the text a message needs is put in its outbound job, which erasure
already redacts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from earful.models.base import Base, BigId, JsonDoc, UTCDateTime, utcnow


class NotificationTarget(Base):
    """Where one user wants one brand's events: a channel, its address, which events and
    the quiet hours. A target whose messages keep failing is suspended (not hammered)."""

    __tablename__ = "notification_targets"
    __table_args__ = (UniqueConstraint("brand_id", "user_id", "channel"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # email | chat | browser
    address: Mapped[str | None] = mapped_column(String(2000))  # email or webhook URL
    events: Mapped[list[Any]] = mapped_column(JsonDoc, default=list)  # spike|sla|assigned
    # Quiet hours in the user's zone, "HH:MM" each; both empty: never quiet.
    quiet_start: Mapped[str | None] = mapped_column(String(5))
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    quiet_mode: Mapped[str] = mapped_column(String(8), default="hold")  # hold | drop
    failures: Mapped[int] = mapped_column(default=0)  # failed messages in a row
    last_error: Mapped[str | None] = mapped_column(String(500))
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Notification(Base):
    """One message about one subject (an alert, a breach, an assignment) to one target.

    ``(target_id, key)`` is unique: however often the scheduler sees the alert, the
    target gets one message."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("target_id", "key"),
        Index("ix_notifications_channel_id", "channel", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    target_id: Mapped[int] = mapped_column(
        ForeignKey("notification_targets.id", ondelete="CASCADE")
    )
    channel: Mapped[str] = mapped_column(String(16))
    event: Mapped[str] = mapped_column(String(16))  # spike | sla | assigned
    key: Mapped[str] = mapped_column(String(120))  # e.g. "spike:12", "sla:45:1733400000"
    title: Mapped[str] = mapped_column(String(300))
    link: Mapped[str | None] = mapped_column(String(500))
    # queued (in the outbound queue) | held (quiet hours) | sent | dropped | skipped | failed
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(500))
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbound_jobs.id", ondelete="SET NULL"), index=True
    )
    # The job's outcome has been counted on the target (its failures, suspension).
    settled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookEndpoint(Base):
    """An integrator's URL that receives the brand's conversation events, signed."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    # The signing secret, sealed with EARFUL_SECRET_KEY; shown once, when created.
    secret_sealed: Mapped[str] = mapped_column(Text)
    events: Mapped[list[Any]] = mapped_column(JsonDoc, default=list)
    failures: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookEvent(Base):
    """A conversation event, recorded once (``source`` is what it was derived from)."""

    __tablename__ = "webhook_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    source: Mapped[str] = mapped_column(String(120), unique=True)  # "audit:7", "job:9", ...
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(40))
    conversation_id: Mapped[int | None] = mapped_column(BigId)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """One event to one endpoint: queued once (exactly once per event id and endpoint)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("event_id", "endpoint_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("webhook_events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[str] = mapped_column(String(16))  # queued | held (endpoint suspended)
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbound_jobs.id", ondelete="SET NULL"), index=True
    )
    settled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
