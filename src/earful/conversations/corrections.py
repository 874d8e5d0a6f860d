"""Agents correct a post's labels: the post takes the new value at once, the change is kept.

The post's column holds the corrected value, so the inbox's filters and priority read it
as soon as the conversation's state is refreshed (in the same transaction). The
``label_corrections`` rows say who changed what and when; a model relabeling a post later
keeps the agent's value (see ``LabelRepository.store``). Never commits.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from earful.auth.service import Principal, audit
from earful.conversations import repository as repo
from earful.conversations.service import access_conversation
from earful.errors import BadInput, NotFound
from earful.models import ConversationPost, LabelCorrection, Post, Role, User
from earful.understanding.repository import corrected_values

CHOICES: dict[str, tuple[str, ...]] = {
    "sentiment": ("negative", "neutral", "positive"),
    "intent": ("complaint", "question", "compliment", "other"),
    "urgency": ("0", "1", "2", "3", "4"),
}


@dataclass(slots=True)
class Correction:
    post_id: int
    field: str
    old_value: str | None
    new_value: str
    by: str | None
    at: datetime


def correct(
    session: Session, principal: Principal, conv_id: int, post_id: int, field: str, value: str
) -> LabelCorrection:
    """Set one label of one post of the conversation (agents and above)."""
    conv = access_conversation(session, principal, conv_id, Role.AGENT)
    field, value = field.strip().lower(), value.strip().lower()
    if field not in CHOICES:
        raise BadInput(f"a correction is of {', '.join(CHOICES)}")
    if value not in CHOICES[field]:
        raise BadInput(f"{field} is one of {', '.join(CHOICES[field])}")
    post = session.scalar(
        select(Post)
        .join(ConversationPost, ConversationPost.post_id == Post.id)
        .where(ConversationPost.conversation_id == conv.id, Post.id == post_id)
    )
    if post is None:
        raise NotFound("no such post in this conversation")
    old = getattr(post, field)
    row = LabelCorrection(
        post_id=post.id,
        brand_id=conv.brand_id,
        user_id=principal.user_id,
        field=field,
        old_value=None if old is None else str(old),
        new_value=value,
    )
    session.add(row)
    session.execute(update(Post).where(Post.id == post.id).values(**corrected_values(field, value)))
    session.flush()
    repo.refresh_states(session, [conv.id])  # the inbox's filters and priority, now
    change = f"{row.old_value or 'none'} -> {value}"
    audit(session, principal, "post.label_corrected", brand_id=conv.brand_id,
          target=f"post:{post.id}", field=field, result=change)  # fmt: skip
    session.flush()
    return row


def of_posts(session: Session, post_ids: Sequence[int]) -> dict[int, list[Correction]]:
    """The latest correction of each label of these posts, with the agent's name."""
    if not post_ids:
        return {}
    rows = session.execute(
        select(
            LabelCorrection.post_id,
            LabelCorrection.field,
            LabelCorrection.old_value,
            LabelCorrection.new_value,
            User.name,
            LabelCorrection.created_at,
        )
        .outerjoin(User, User.id == LabelCorrection.user_id)
        .where(LabelCorrection.post_id.in_(list(post_ids)))
        .order_by(LabelCorrection.id)
    ).all()
    latest: dict[tuple[int, str], Correction] = {}
    for r in rows:
        latest[(r[0], r[1])] = Correction(*r)
    out: dict[int, list[Correction]] = {}
    for (pid, _), c in sorted(latest.items()):
        out.setdefault(pid, []).append(c)
    return out


def export(conn: Connection, brand_ids: Sequence[int] | None = None) -> Iterator[dict[str, Any]]:
    """Each post's latest corrected labels with its text, for training (JSON lines)."""
    q = (
        select(
            LabelCorrection.id,
            LabelCorrection.post_id,
            LabelCorrection.brand_id,
            LabelCorrection.field,
            LabelCorrection.old_value,
            LabelCorrection.new_value,
            LabelCorrection.created_at,
            Post.text,
            Post.language,
        )
        .join(Post, Post.id == LabelCorrection.post_id)
        .order_by(LabelCorrection.id)
    )
    if brand_ids is not None:
        q = q.where(LabelCorrection.brand_id.in_(list(brand_ids)))
    latest: dict[tuple[int, str], dict[str, Any]] = {}
    for r in conn.execute(q):
        latest[(r.post_id, r.field)] = {
            "post_id": r.post_id,
            "brand_id": r.brand_id,
            "field": r.field,
            "old": r.old_value,
            "label": r.new_value,
            "corrected_at": r.created_at.isoformat() if r.created_at else None,
            "language": r.language,
            "text": r.text,
        }
    yield from latest.values()
