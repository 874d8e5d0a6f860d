"""A brand's conversations as JSON Lines (one conversation a line, with its posts) or CSV
(one post a row), streamed: one query read in chunks of rows, each conversation written
as soon as its last post is read, so memory does not grow with the brand.

Used by ``earful brands export`` (with a progress bar) and the admins' download route.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from itertools import groupby
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import aliased

from earful.models import Conversation, ConversationPost, Identity, Post

FORMATS = ("jsonl", "csv")
CSV_COLUMNS = (
    "conversation_id", "status", "subject", "customer", "network", "post_id", "at",
    "author", "from_brand", "deleted", "text", "sentiment", "intent", "urgency",
)  # fmt: skip
ROWS_PER_FETCH = 500


def by_conversation(rows: Iterable[Any]) -> Iterator[tuple[Any, list[Any]]]:
    """Group rows ordered by conversation (its id first) into (first row, all its rows),
    one conversation at a time, so a stream of rows becomes a stream of conversations."""
    for _, group in groupby(rows, key=itemgetter(0)):
        members = list(group)
        yield members[0], members


def status_text(status: object) -> str:
    return str(getattr(status, "value", status))


def count(conn: Connection, brand_id: int) -> int:
    return int(conn.scalar(select(func.count()).where(Conversation.brand_id == brand_id)) or 0)


def conversations(conn: Connection, brand_id: int) -> Iterator[dict[str, Any]]:
    """The brand's conversations, oldest first, each with its posts in order."""
    customer, author = aliased(Identity), aliased(Identity)
    stmt = (
        select(
            Conversation.id,
            Conversation.status,
            Conversation.subject,
            Conversation.first_post_at,
            Conversation.last_post_at,
            customer.network,
            customer.handle,
            Post.external_id,
            Post.created_at,
            author.handle,
            Post.from_brand,
            Post.deleted_at,
            Post.text,
            Post.sentiment,
            Post.intent,
            Post.urgency,
        )
        .join(customer, customer.id == Conversation.identity_id)
        .join(ConversationPost, ConversationPost.conversation_id == Conversation.id)
        .join(Post, Post.id == ConversationPost.post_id)
        .join(author, author.id == Post.identity_id)
        .where(Conversation.brand_id == brand_id)
        .order_by(Conversation.id, Post.created_at, Post.id)
    )
    rows = conn.execution_options(yield_per=ROWS_PER_FETCH).execute(stmt)
    for head, posts in by_conversation(rows):
        cid, status, subject, first, last, network, handle = head[:7]
        yield {
            "id": cid, "status": status_text(status), "subject": subject,
            "network": network, "customer": handle, "first_post_at": first.isoformat(),
            "last_post_at": last.isoformat(),
            "posts": [
                {
                    "id": pid, "at": at.isoformat(), "author": by,
                    "from_brand": bool(from_brand), "deleted": deleted is not None,
                    "text": text, "sentiment": sentiment, "intent": intent, "urgency": urgency,
                }
                for (*_, pid, at, by, from_brand, deleted, text, sentiment, intent, urgency)
                in posts
            ],
        }  # fmt: skip


def jsonl(convs: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    for conv in convs:
        yield orjson.dumps(conv) + b"\n"


def _cell(value: object) -> object:
    """Text a spreadsheet would run as a formula is prefixed with a quote (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_rows(convs: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for conv in convs:
        for p in conv["posts"]:
            row = [
                conv["id"], conv["status"], conv["subject"] or "", conv["customer"] or "",
                conv["network"], p["id"], p["at"], p["author"] or "", int(p["from_brand"]),
                int(p["deleted"]), p["text"], p["sentiment"] or "", p["intent"] or "",
                "" if p["urgency"] is None else p["urgency"],
            ]  # fmt: skip
            writer.writerow([_cell(v) for v in row])
        yield out.getvalue().encode()
        out.seek(0)
        out.truncate()
    if out.tell():
        yield out.getvalue().encode()


def encode(convs: Iterable[dict[str, Any]], fmt: str) -> Iterator[bytes]:
    return jsonl(convs) if fmt == "jsonl" else csv_rows(convs)
