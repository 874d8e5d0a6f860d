"""Pull the updates of handed-off tickets back into their Earful conversations.

What a helpdesk agent or the customer writes on the ticket shows up in the conversation:

* a **public** comment (Zendesk) / a reply or customer thread (Help Scout) becomes a
  **post** of the conversation on the channel ``zendesk`` / ``helpscout``: the customer's
  as a customer post (the conversation is reopened, waiting for us), the helpdesk agent's
  as a brand post. These channels are private: a public reply never targets them.
* an **internal** comment / note becomes an Earful **note**, never shown to the customer.

Each handoff keeps ``sync_cursor`` (the newest comment/thread id seen); the comments the
ticket was born with (our transcript) are skipped. Pulling twice stores nothing twice:
posts are keyed ``<ticket id>/<comment id>`` and the cursor moves in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from earful.connectors.base import ConnectorError, Retry
from earful.conversations import repository as conversations_repo
from earful.db import transaction
from earful.engagement import repository as replies_repo
from earful.handoff import repository as repo
from earful.handoff.helpdesk import (
    HELPSCOUT_CREATED_THREADS,
    ZENDESK_CREATED_COMMENTS,
    Comment,
    HelpScoutClient,
    ZendeskClient,
)
from earful.models import (
    Brand,
    Conversation,
    ConversationStatus,
    Handoff,
    Identity,
    Note,
    Post,
)
from earful.models.base import utcnow

log = logging.getLogger("earful.handoff.sync")
LABEL = {"zendesk": "Zendesk", "helpscout": "Help Scout"}
BORN_WITH = {"zendesk": ZENDESK_CREATED_COMMENTS, "helpscout": HELPSCOUT_CREATED_THREADS}


@dataclass(slots=True)
class SyncSummary:
    handoffs: int = 0
    posts: int = 0
    notes: int = 0
    deferred: int = 0  # rate limited or unreachable: next round


def _when(raw: str) -> datetime:
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return utcnow()
    return min(at if at.tzinfo else at.replace(tzinfo=UTC), utcnow())


def new_comments(handoff: Handoff, comments: Sequence[Comment]) -> list[Comment]:
    ordered = sorted(comments, key=lambda c: c.id)
    if handoff.sync_cursor is None:
        return ordered[BORN_WITH.get(handoff.channel, 0) :]
    last = int(handoff.sync_cursor)
    return [c for c in ordered if c.id > last]


def _customer_identity(session: Session, conv: Conversation, email: str | None) -> Identity:
    starter = session.get(Identity, conv.identity_id)
    assert starter is not None
    if not email:
        return starter
    ident = repo.email_identity(session, email.lower())
    if ident is None:
        ident = Identity(network="email", external_id=email.lower(), handle=email.lower(),
                         customer_id=starter.customer_id)  # fmt: skip
        session.add(ident)
        session.flush()
    return ident


def store(session: Session, handoff_id: int, comments: Sequence[Comment]) -> tuple[int, int]:
    """File the ticket's new comments in the conversation; returns (posts, notes)."""
    handoff = session.get(Handoff, handoff_id)
    if handoff is None:
        return 0, 0
    conv = session.get(Conversation, handoff.conversation_id)
    brand = session.get(Brand, handoff.brand_id)
    assert conv is not None and brand is not None
    fresh = new_comments(handoff, comments)
    if comments:
        handoff.sync_cursor = str(max(c.id for c in comments))
    posts = notes = 0
    label = LABEL.get(handoff.channel, handoff.channel)
    for c in fresh:
        if not c.public:
            session.add(Note(conversation_id=conv.id, brand_id=conv.brand_id,
                             text=f"{label} note by {c.author}: {c.body}".strip(),
                             created_at=_when(c.created_at)))  # fmt: skip
            notes += 1
            continue
        key = f"{handoff.external_id}/{c.id}"
        if replies_repo.post_by_key(session, handoff.channel, key) is not None:
            continue
        ident = (
            _customer_identity(session, conv, c.author_email)
            if c.from_customer
            else replies_repo.brand_identity(session, brand, handoff.channel)
        )
        post = Post(
            network=handoff.channel,
            external_id=key,
            identity_id=ident.id,
            text=c.body or "(empty)",
            created_at=_when(c.created_at),
            url=handoff.external_url,
            from_brand=not c.from_customer,
        )
        replies_repo.add_to_conversation(session, conv, post)
        if c.from_customer and conv.status in (
            ConversationStatus.WAITING,
            ConversationStatus.RESOLVED,
        ):
            conv.status = ConversationStatus.OPEN
        posts += 1
    if posts or notes:
        session.flush()
        conversations_repo.refresh_states(session, [conv.id])
        conversations_repo.bump_version(session, conv.id)
    return posts, notes


async def pull(
    engine: Engine,
    zendesk: ZendeskClient | None = None,
    helpscout: HelpScoutClient | None = None,
) -> SyncSummary:
    """One round over every synced handoff: fetch, then file each in its own transaction."""
    summary = SyncSummary()
    channels = [n for n, c in (("zendesk", zendesk), ("helpscout", helpscout)) if c]
    if not channels:
        return summary
    with transaction(engine) as session:
        todo = [(h.id, h.channel, str(h.external_id)) for h in repo.to_sync(session, channels)]
    for handoff_id, channel, ticket in todo:
        summary.handoffs += 1
        try:
            if channel == "zendesk":
                assert zendesk is not None
                comments = await zendesk.comments(ticket)
            else:
                assert helpscout is not None
                comments = await helpscout.threads(ticket)
        except (Retry, ConnectorError, httpx.HTTPError) as exc:
            log.info("handoff %s: cannot pull updates now: %s", handoff_id, exc)
            summary.deferred += 1
            continue
        with transaction(engine) as session:
            posts, notes = store(session, handoff_id, comments)
        summary.posts += posts
        summary.notes += notes
    return summary
