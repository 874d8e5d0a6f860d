"""Engagement: outbound jobs and their send records, handoffs, service hours, signatures."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from earful.models.base import Base, BigId, JsonDoc, UTCDateTime, utcnow


class JobState(enum.StrEnum):
    QUEUED = "queued"  # waits for the worker (again, after a transient failure)
    SENDING = "sending"  # claimed by a worker; its send record is written
    SENT = "sent"
    FAILED = "failed"  # permanent (reason says why); an agent may retry it


class JobKind(enum.StrEnum):
    REPLY = "reply"
    LIKE = "like"
    REPOST = "repost"
    DIRECT_MESSAGE = "dm"
    POST = "post"  # a post of the brand's own, not a reply (sign-on / sign-off)
    HANDOFF = "handoff"  # email, Zendesk, Help Scout, webhook: see Handoff.channel
    NOTIFY = "notify"  # a notification to a person (email, chat webhook)
    EVENT = "event"  # a conversation event to an integrator's webhook


def _enum(cls: type[enum.StrEnum]) -> Enum:
    return Enum(cls, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])


class OutboundJob(Base):
    """One action towards the outside world, sent by the outbound worker."""

    __tablename__ = "outbound_jobs"
    __table_args__ = (
        # The worker's claim: due queued jobs, oldest first.
        Index("ix_outbound_jobs_state_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    # The inbox's reply row this job sends (collision hold lives there).
    reply_id: Mapped[int | None] = mapped_column(ForeignKey("replies.id", ondelete="SET NULL"))
    handoff_id: Mapped[int | None] = mapped_column(
        ForeignKey("handoffs.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[JobKind] = mapped_column(_enum(JobKind))
    network: Mapped[str] = mapped_column(String(32))  # or the handoff channel
    # The network's id of the post acted on, or the recipient of a direct message.
    target: Mapped[str | None] = mapped_column(String(500))
    text: Mapped[str | None] = mapped_column(Text)
    # What else the sender needs (subject, requester, tags, the auto-acknowledgement flag).
    payload: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    # Sent with every attempt: the network (or our send record) makes a retry a no-op.
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[JobState] = mapped_column(_enum(JobState), default=JobState.QUEUED)
    reason: Mapped[str | None] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=6)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result_id: Mapped[str | None] = mapped_column(String(500))
    result_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class OutboundAttempt(Base):
    """The send record: written (and committed) before each attempt, completed after.

    An attempt left ``pending`` means the worker died or the network never answered: the
    outcome is unknown, and only a network-side idempotency key makes a resend safe.
    """

    __tablename__ = "outbound_attempts"
    __table_args__ = (UniqueConstraint("job_id", "attempt"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("outbound_jobs.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column()
    outcome: Mapped[str] = mapped_column(String(16), default="pending")  # sent|retry|failed
    detail: Mapped[str | None] = mapped_column(String(500))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Handoff(Base):
    """A conversation moved to a private channel; ``external_id`` links the ticket back."""

    __tablename__ = "handoffs"
    __table_args__ = (Index("ix_handoffs_channel_external", "channel", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(16))  # email|zendesk|helpscout|dm|webhook
    address: Mapped[str | None] = mapped_column(String(500))  # email, DM recipient, URL
    # The ticket id (Zendesk, Help Scout), or the Message-ID of the email we sent.
    external_id: Mapped[str | None] = mapped_column(String(500))
    external_url: Mapped[str | None] = mapped_column(Text)
    # Newest update pulled from the ticket (for polling), opaque per channel.
    sync_cursor: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EngagementSettings(Base):
    """A brand's service hours, auto-acknowledgement, signature format and compliment rules."""

    __tablename__ = "engagement_settings"

    brand_id: Mapped[int] = mapped_column(
        ForeignKey("brands.id", ondelete="CASCADE"), primary_key=True
    )
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # {"mon": [["09:00", "17:00"]], ...}; a missing day is closed.
    hours: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    auto_ack: Mapped[bool] = mapped_column(default=False)
    # Acknowledge in hours too when this many conversations are waiting (0: never).
    ack_backlog: Mapped[int] = mapped_column(default=0)
    ack_template: Mapped[str | None] = mapped_column(Text)
    # How an agent signs: {initials}, {first} and {name} are filled in.
    signature_format: Mapped[str] = mapped_column(String(64), default="^{initials}")
    # {"thank": bool, "like": bool, "repost": bool, "min_score": float}
    compliment_rules: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    thank_template: Mapped[str | None] = mapped_column(Text)
    # The public service page (/s/<brand>): off until the brand publishes it.
    public_page: Mapped[bool] = mapped_column(default=False)
    # How the brand prefers to be reached, as shown there ("DM @AcmeHelp on X").
    preferred_contact: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AgentSignature(Base):
    """An agent's own signature in one brand, overriding the brand's format."""

    __tablename__ = "agent_signatures"

    brand_id: Mapped[int] = mapped_column(
        ForeignKey("brands.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    signature: Mapped[str] = mapped_column(String(32))
