"""A small dashboard dataset whose every figure is known by hand (see EXPECTED)."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import count

from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from earful.conversations import repository as conversations_repo
from earful.db import transaction
from earful.models import (
    Conversation,
    ConversationPost,
    ConversationState,
    ConversationStatus,
    Identity,
    Post,
    Reply,
    ReplyStatus,
)
from tests.web.world import World

_ids = count(1)


def _conversation(
    s: Session,
    brand_id: int,
    status: ConversationStatus,
    posts: list[tuple[datetime, bool, str | None, str | None]],
) -> int:
    """posts: (created_at, from_brand, sentiment, intent)."""
    n = next(_ids)
    ident = Identity(network="bluesky", external_id=f"dash-{n}", handle=f"cust{n}")
    s.add(ident)
    s.flush()
    conv = Conversation(
        brand_id=brand_id,
        identity_id=ident.id,
        status=status,
        first_post_at=posts[0][0],
        last_post_at=posts[-1][0],
        post_count=len(posts),
    )
    s.add(conv)
    s.flush()
    for k, (when, from_brand, sentiment, intent) in enumerate(posts):
        post = Post(
            network="bluesky",
            external_id=f"dash-{n}-{k}",
            identity_id=ident.id,
            text="words",
            created_at=when,
            from_brand=from_brand,
            sentiment=sentiment,
            intent=intent,
        )
        s.add(post)
        s.flush()
        s.add(ConversationPost(conversation_id=conv.id, post_id=post.id))
    s.flush()
    return conv.id


def build(engine: Engine, w: World, now: datetime) -> None:
    """Brand A, target 60 minutes, window = the 3 UTC days ending at ``now``.

    Customer posts in the window and the brand's next answer:
      day-2 10:00 negative complaint → brand post 30 min later          (30)
      day-1 09:00 negative complaint → agent reply (queued) 120 min later (120)
      day-1 12:00 positive compliment → brand post 10 min later          (10)
      day 0 (now-4h) neutral question → unanswered, overdue
      day 0 (now-30m) neutral question → unanswered, pending
    Outside the window: a complaint 3 days before the window. Brand B has posts in the
    window that must not be counted.
    """
    day0 = now.replace(hour=0, minute=0, second=0, microsecond=0)
    d2, d1 = day0 - timedelta(days=2), day0 - timedelta(days=1)
    with transaction(engine) as s:
        c1 = _conversation(
            s,
            w.brand_a,
            ConversationStatus.OPEN,
            [
                (d2 + timedelta(hours=10), False, "negative", "complaint"),
                (d2 + timedelta(hours=10, minutes=30), True, None, None),
                (d1 + timedelta(hours=9), False, "negative", "complaint"),
            ],
        )
        c2 = _conversation(
            s,
            w.brand_a,
            ConversationStatus.RESOLVED,
            [
                (d1 + timedelta(hours=12), False, "positive", "compliment"),
                (d1 + timedelta(hours=12, minutes=10), True, None, None),
                (now - timedelta(hours=4), False, "neutral", "question"),
            ],
        )
        c3 = _conversation(
            s,
            w.brand_a,
            ConversationStatus.NEW,
            [
                (day0 - timedelta(days=5), False, "negative", "complaint"),
                (now - timedelta(minutes=30), False, "neutral", "question"),
            ],
        )
        cb = _conversation(
            s,
            w.brand_b,
            ConversationStatus.OPEN,
            [
                (d1 + timedelta(hours=1), False, "negative", "complaint"),
                (d1 + timedelta(hours=2), False, "negative", "complaint"),
            ],
        )
        alice, agent, bob = w.users["alice"], w.users["agent"], w.users["bob"]
        s.add_all(
            [
                Reply(
                    conversation_id=c1,
                    brand_id=w.brand_a,
                    author_id=alice,
                    text="sorry",
                    status=ReplyStatus.QUEUED,
                    based_on_version=1,
                    created_at=d1 + timedelta(hours=11),
                ),
                Reply(  # held and discarded replies answer nobody
                    conversation_id=c3,
                    brand_id=w.brand_a,
                    author_id=agent,
                    text="held",
                    status=ReplyStatus.HELD,
                    based_on_version=0,
                    created_at=now - timedelta(minutes=20),
                ),
                Reply(
                    conversation_id=c2,
                    brand_id=w.brand_a,
                    author_id=agent,
                    text="gone",
                    status=ReplyStatus.DISCARDED,
                    based_on_version=0,
                    created_at=now - timedelta(hours=3),
                ),
                Reply(
                    conversation_id=cb,
                    brand_id=w.brand_b,
                    author_id=bob,
                    text="b",
                    status=ReplyStatus.SENT,
                    based_on_version=1,
                    created_at=d1 + timedelta(hours=3),
                ),
            ]
        )
        s.flush()
        conversations_repo.refresh_states(s, [c1, c2, c3, cb])
        for conv, who in ((c1, alice), (c3, alice), (c2, agent), (cb, bob)):
            s.execute(
                update(ConversationState)
                .where(ConversationState.conversation_id == conv)
                .values(assignee_id=who)
            )
