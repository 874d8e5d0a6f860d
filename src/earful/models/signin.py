"""Hardened sign-in: server-side sessions, TOTP second factors, recovery codes, and the
brands that require a second factor."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from earful.models.base import Base, BigId, UTCDateTime, utcnow


class UserSession(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored,
    so a revoked (deleted) row ends that browser's session on its next request."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    method: Mapped[str] = mapped_column(String(16), default="password")


class TotpCredential(Base):
    """A user's TOTP secret, sealed with the secret key; unconfirmed until a first code."""

    __tablename__ = "totp_credentials"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    secret_sealed: Mapped[str] = mapped_column(String(400))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_step: Mapped[int] = mapped_column(BigId, default=0)  # a code is good once


class RecoveryCode(Base):
    """One single-use recovery code (its SHA-256: the codes carry 80 random bits)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SignInPolicy(Base):
    """A brand's sign-in rules, set by its admins."""

    __tablename__ = "sign_in_policies"

    brand_id: Mapped[int] = mapped_column(
        ForeignKey("brands.id", ondelete="CASCADE"), primary_key=True
    )
    require_totp: Mapped[bool] = mapped_column(default=False)
