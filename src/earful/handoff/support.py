"""A brand's support address as a private channel: mail to it is a private conversation.

The address is one of the brand's handles on the ``email`` network (``handles={"email":
["help@acme.example"]}``). A message joins the conversation its ``In-Reply-To`` /
``References`` name (one of the customer's earlier messages, or our answer), else the
sender's open private conversation with the brand, else a new one. Answers go back by
email from the same address, threaded under the customer's message (see
:func:`earful.handoff.mail.answer_headers`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from earful.conversations import repository as conversations_repo
from earful.models import Brand, Conversation, ConversationPost, Post
from earful.pipeline import private
from earful.pipeline.schema import PostIn

if TYPE_CHECKING:
    from earful.handoff.mail import InboundMail


def brand_of(session: Session, address: str) -> int | None:
    """The brand whose support address this is (case-insensitive), or None."""
    wanted = address.strip().strip("<>").lower()
    for brand_id, handles in session.execute(select(Brand.id, Brand.handles)):
        names = (handles or {}).get("email") or []
        for name in [names] if isinstance(names, str) else names:
            if str(name).strip().lower() == wanted:
                return int(brand_id)
    return None


def referenced(session: Session, brand_id: int, refs: list[str]) -> Conversation | None:
    """The brand's private conversation holding the newest message ``refs`` name."""
    if not refs:
        return None
    return session.scalar(
        select(Conversation)
        .join(ConversationPost, ConversationPost.conversation_id == Conversation.id)
        .join(Post, Post.id == ConversationPost.post_id)
        .where(
            Post.network == "email",
            Post.external_id.in_([r[:200] for r in refs]),
            Conversation.brand_id == brand_id,
            Conversation.private.is_(True),
        )
        .order_by(Post.created_at.desc())
        .limit(1)
    )


def store(session: Session, mail: InboundMail, raw: bytes, brand_id: int) -> int | None:
    """File the message; the conversation's id, or None when it was filed before."""
    message = PostIn(
        network="email",
        external_id=mail.message_id[:200],
        author_id=mail.sender,
        author_handle=mail.sender,
        author_name=mail.sender_name,
        text=mail.text or mail.subject or "(empty message)",
        created_at=mail.date,
        reply_to=mail.in_reply_to[-1][:200] if mail.in_reply_to else None,
        raw=raw[:1_000_000],
    )
    out = private.PrivateSummary()
    thread = referenced(session, brand_id, mail.in_reply_to)
    stored = private.store_one(session, message, brand_id, out, thread=thread)
    if stored is None:
        return None
    conv = session.get(Conversation, stored[0])
    if conv is not None and thread is None and mail.subject.strip():
        conv.subject = mail.subject.strip()[:200]  # a mail's own title, not its first line
    conversations_repo.refresh_states(session, [stored[0]])
    return stored[0]
