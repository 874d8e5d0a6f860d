"""Server-side sessions: one row per signed-in browser, listed on the account page and
revocable there (or by a brand admin, or by the CLI). The cookie holds a random token
whose SHA-256 names the row; deleting the row ends the session on its next request."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from earful.auth import repository
from earful.errors import NotFound
from earful.models import Role, User, UserSession

# "Last seen" is written at most this often: not one write per request.
TOUCH_EVERY = timedelta(minutes=1)
USER_AGENT_MAX = 300


def _hash(clear: str) -> str:
    return hashlib.sha256(clear.encode()).hexdigest()


def open_session(
    session: Session,
    user_id: int,
    address: str | None,
    user_agent: str | None,
    method: str,
    now: datetime,
) -> str:
    """A new session row; returns the token for the cookie (never stored in clear)."""
    clear = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            user_id=user_id,
            token_hash=_hash(clear),
            created_at=now,
            last_seen_at=now,
            address=(address or None) and address[:64],
            user_agent=(user_agent or None) and user_agent[:USER_AGENT_MAX],
            method=method,
        )
    )
    session.flush()
    return clear


def resolve(
    session: Session, clear: str, user_id: int, now: datetime
) -> tuple[UserSession, User, dict[int, Role]] | None:
    """The live session this cookie names (if it is the user's), with the user and their
    roles; notes when it was seen."""
    if not clear:
        return None
    found = repository.session_with_roles(session, _hash(clear))
    if found is None or found[0].user_id != user_id:
        return None
    row = found[0]
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
    return found


def close(session: Session, clear: str) -> None:
    row = repository.session_by_hash(session, _hash(clear)) if clear else None
    if row is not None:
        session.delete(row)
        session.flush()


def revoke(session: Session, user_id: int, session_id: int) -> UserSession:
    """End one of the user's own sessions (another user's id is not found)."""
    row = session.get(UserSession, session_id)
    if row is None or row.user_id != user_id:
        raise NotFound("no such session")
    session.delete(row)
    session.flush()
    return row


def revoke_all(session: Session, user_id: int, keep: int | None = None) -> int:
    """End every session of the user (but ``keep``); returns how many ended."""
    return repository.delete_sessions(session, user_id, keep)
