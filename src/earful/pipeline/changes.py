"""What the networks change in posts already stored: edits and deletions.

An edit replaces the text (and raw payload), is labelled again and retitles its
conversations. A deletion redacts the post: its text, raw payload and URL go (the search
index follows the text: SQLite's FTS5 trigger, PostgreSQL's expression index), the row
stays with its time and labels so counts do not move, and a tombstone keeps a replay or a
rewound stream from storing it again. Deletions of posts never stored are ignored: on a
firehose they are nearly all of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Connection, Table, bindparam, select, tuple_, update

from earful.models import Conversation, ConversationPost, Erasure, Post
from earful.models.customer import erasure_key
from earful.pipeline.schema import PostIn
from earful.pipeline.stages import Classifier, subject_of

posts_t: Table = Post.__table__  # type: ignore[assignment]
members_t: Table = ConversationPost.__table__  # type: ignore[assignment]
conversations_t: Table = Conversation.__table__  # type: ignore[assignment]
erasures_t: Table = Erasure.__table__  # type: ignore[assignment]

Key = tuple[str, str]
CHUNK = 500


def _stored(conn: Connection, keys: Iterable[Key]) -> dict[Key, int]:
    """Post ids of the keys that are stored."""
    keys = list(dict.fromkeys(keys))
    found: dict[Key, int] = {}
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        rows = conn.execute(
            select(posts_t.c.network, posts_t.c.external_id, posts_t.c.id).where(
                tuple_(posts_t.c.network, posts_t.c.external_id).in_(chunk)
            )
        )
        found.update(((n, e), pid) for n, e, pid in rows)
    return found


def apply_edits(
    conn: Connection, edits: Sequence[PostIn], classifier: Classifier, at: datetime
) -> set[Key]:
    """Replace stored posts' text by their edited version and label it again; returns the
    keys found (the caller stores the others as new posts)."""
    stored = _stored(conn, ((p.network, p.external_id) for p in edits))
    latest = {(p.network, p.external_id): p for p in edits if (p.network, p.external_id) in stored}
    if not latest:
        return set()
    posts = list(latest.values())
    labels = classifier.classify([p.text for p in posts])
    rows = []
    for post, lab in zip(posts, labels, strict=True):
        rows.append(
            {
                "pid": stored[(post.network, post.external_id)],
                "text": post.text,
                "raw": post.raw,
                "edited_at": at,
                "sentiment": lab.sentiment,
                "sentiment_score": lab.sentiment_score,
                "intent": lab.intent,
                "intent_score": lab.intent_score,
                "urgency": lab.urgency,
                "urgency_score": lab.urgency_score,
                "language": post.language
                if lab.language in (None, "unknown") and post.language
                else lab.language,
                "model_version": classifier.version,
                "tier2_version": None,  # the new text's labels are the fast tier's
            }
        )
    # Deleted posts stay redacted whatever a late edit says.
    conn.execute(
        update(posts_t)
        .where(posts_t.c.id == bindparam("pid"), posts_t.c.deleted_at.is_(None))
        .values({k: bindparam(k) for k in rows[0] if k != "pid"}),
        rows,
    )
    retitle(conn, [stored[k] for k in latest])
    return set(latest)


def apply_deletions(conn: Connection, keys: Sequence[Key], at: datetime) -> int:
    """Redact the stored posts among ``keys`` and tombstone them; returns how many."""
    stored = _stored(conn, keys)
    if not stored:
        return 0
    ids = sorted(stored.values())
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        conn.execute(
            update(posts_t)
            .where(posts_t.c.id.in_(chunk))
            .values(text="", raw=None, url=None, deleted_at=at)
        )
    tombstones = {erasure_key("post", n, e) for n, e in stored}
    known = set(
        conn.scalars(select(erasures_t.c.key).where(erasures_t.c.key.in_(list(tombstones))))
    )
    new = [{"key": k, "kind": "post", "erased_at": at} for k in tombstones - known]
    if new:
        conn.execute(erasures_t.insert(), new)
    retitle(conn, ids)
    return len(ids)


def retitle(conn: Connection, post_ids: Sequence[int]) -> None:
    """Recompute the subject of the conversations holding ``post_ids``: the first customer
    post still on its network, none when all are deleted."""
    conv_ids = set(
        conn.scalars(
            select(members_t.c.conversation_id).where(members_t.c.post_id.in_(list(post_ids)))
        )
    )
    for cid in sorted(conv_ids):
        first = conn.execute(
            select(posts_t.c.text)
            .join(members_t, members_t.c.post_id == posts_t.c.id)
            .where(
                members_t.c.conversation_id == cid,
                posts_t.c.from_brand.is_(False),
                posts_t.c.deleted_at.is_(None),
            )
            .order_by(posts_t.c.created_at, posts_t.c.id)
            .limit(1)
        ).scalar()
        conn.execute(
            update(conversations_t)
            .where(conversations_t.c.id == cid)
            .values(subject=subject_of(first) if first else None)
        )
