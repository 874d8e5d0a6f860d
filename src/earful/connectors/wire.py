"""Parsers from each file/wire format to :class:`PostIn`. Pure functions, no I/O.

Each raises :class:`BadRecord` with a reason a person can act on; the caller dead-letters.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import orjson

from earful.pipeline.schema import PostIn


class BadRecord(ValueError):
    """This record cannot become a post; the message says why."""


class NotAPost(Exception):
    """A well-formed record that is deliberately not a post (a delete, a like...)."""


def _decode_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as uni:
            raise BadRecord(f"not UTF-8: invalid byte at offset {uni.start}") from None
        raise BadRecord(f"invalid JSON: {exc}") from None


def _str(value: Any, what: str, required: bool = True) -> str | None:
    if value is None or value == "":
        if required:
            raise BadRecord(f"missing {what}")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadRecord(f"{what} must be a string, got {type(value).__name__}")
    return str(value)


def parse_time(value: Any, what: str = "created_at") -> datetime:
    if not isinstance(value, str) or not value:
        raise BadRecord(f"missing {what}")
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise BadRecord(f"{what} is not an ISO 8601 time: {value[:40]!r}") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


# ------------------------------------------------------------------ our schema


def parse_post_json(raw: bytes) -> PostIn:
    """One post in Earful's own JSON schema (see docs/post-schema.md)."""
    doc = _decode_json(raw)
    if not isinstance(doc, dict):
        raise BadRecord(f"expected a JSON object, got {type(doc).__name__}")
    author = doc.get("author")
    if isinstance(author, dict):
        author_id = _str(author.get("id"), "author.id")
        handle = _str(author.get("handle"), "author.handle", required=False)
        name = _str(author.get("name"), "author.name", required=False)
    else:
        author_id = _str(doc.get("author_id"), "author.id")
        handle = name = None
    text = doc.get("text")
    if not isinstance(text, str):
        raise BadRecord("missing text" if text is None else "text must be a string")
    return PostIn(
        network=_str(doc.get("network"), "network") or "",
        external_id=_str(doc.get("id"), "id") or "",
        author_id=author_id or "",
        author_handle=handle,
        author_name=name,
        text=text,
        created_at=parse_time(doc.get("created_at")),
        language=_str(doc.get("lang"), "lang", required=False),
        url=_str(doc.get("url"), "url", required=False),
        reply_to=_str(doc.get("reply_to"), "reply_to", required=False),
        quote_of=_str(doc.get("quote_of"), "quote_of", required=False),
        repost_of=_str(doc.get("repost_of"), "repost_of", required=False),
        author_is_brand=bool(doc.get("from_brand", False)),
        raw=raw,
    )


# ------------------------------------------------------------------ Customer Support on Twitter

TWCS_COLUMNS = (
    "tweet_id",
    "author_id",
    "inbound",
    "created_at",
    "text",
    "response_tweet_id",
    "in_response_to_tweet_id",
)


def twcs_header(raw: bytes) -> list[str]:
    """Check the header row; returns the column names in file order."""
    try:
        names = next(csv.reader([raw.decode("utf-8-sig")]))
    except (UnicodeDecodeError, StopIteration, csv.Error) as exc:
        raise BadRecord(f"unreadable CSV header: {exc}") from None
    names = [n.strip() for n in names]
    missing = [c for c in TWCS_COLUMNS if c not in names]
    if missing:
        raise BadRecord(
            f"not a Customer Support on Twitter CSV: missing column(s) {', '.join(missing)}; "
            f"found {', '.join(names) or 'none'}"
        )
    return names


def parse_twcs_row(raw: bytes, header: list[str]) -> PostIn:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRecord(f"not UTF-8: invalid byte at offset {exc.start}") from None
    try:
        fields = next(csv.reader([text]))
    except (csv.Error, StopIteration) as exc:
        raise BadRecord(f"malformed CSV row: {exc}") from None
    if len(fields) != len(header):
        raise BadRecord(f"expected {len(header)} fields, found {len(fields)}")
    row = dict(zip(header, fields, strict=True))
    tweet_id = row["tweet_id"].strip()
    if not tweet_id.isdigit():
        raise BadRecord(f"tweet_id is not a number: {tweet_id[:40]!r}")
    inbound = row["inbound"].strip().lower()
    if inbound not in ("true", "false"):
        raise BadRecord(f"inbound must be True or False, got {row['inbound'][:20]!r}")
    try:
        created = parsedate_to_datetime(row["created_at"])
    except (TypeError, ValueError):
        raise BadRecord(f"created_at is not a Twitter date: {row['created_at'][:40]!r}") from None
    author = row["author_id"].strip()
    if not author:
        raise BadRecord("missing author_id")
    parent = row["in_response_to_tweet_id"].strip()
    if parent.endswith(".0"):  # pandas-exported copies of the corpus write floats
        parent = parent[:-2]
    return PostIn(
        network="x",
        external_id=tweet_id,
        author_id=author,
        author_handle=None if author.isdigit() else author,
        text=row["text"],
        created_at=created if created.tzinfo else created.replace(tzinfo=UTC),
        reply_to=parent or None,
        author_is_brand=inbound == "false",
        raw=raw,
    )


# ------------------------------------------------------------------ Bluesky Jetstream

POST_COLLECTION = "app.bsky.feed.post"


def _dig(doc: Any, *path: str) -> Any:
    """doc[path[0]][path[1]]..., or None where a step is missing or not an object."""
    for step in path:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(step)
    return doc


def at_uri(did: str, collection: str, rkey: str) -> str:
    return f"at://{did}/{collection}/{rkey}"


def parse_jetstream(raw: bytes) -> tuple[PostIn, int]:
    """A Jetstream event; returns the post and the event's ``time_us`` (the resume cursor).

    Raises :class:`NotAPost` for identity/account events, deletes and other collections.
    """
    doc = _decode_json(raw)
    if not isinstance(doc, dict):
        raise BadRecord("expected a JSON object")
    time_us = doc.get("time_us")
    if not isinstance(time_us, int):
        raise BadRecord("missing time_us")
    if doc.get("kind") != "commit":
        raise NotAPost(doc.get("kind"))
    commit = doc.get("commit")
    did = doc.get("did")
    if not isinstance(commit, dict) or not isinstance(did, str):
        raise BadRecord("commit event without commit or did")
    if commit.get("collection") != POST_COLLECTION or commit.get("operation") != "create":
        raise NotAPost(commit.get("operation"))
    record = commit.get("record")
    rkey = commit.get("rkey")
    if not isinstance(record, dict) or not isinstance(rkey, str):
        raise BadRecord("create commit without record or rkey")
    text = record.get("text")
    if not isinstance(text, str):
        raise BadRecord("post record without text")
    parent = _dig(record, "reply", "parent", "uri")
    embed_type = _dig(record, "embed", "$type")
    quote = None
    if embed_type == "app.bsky.embed.record":
        quote = _dig(record, "embed", "record", "uri")
    elif embed_type == "app.bsky.embed.recordWithMedia":
        quote = _dig(record, "embed", "record", "record", "uri")
    langs = record.get("langs")
    created = record.get("createdAt")
    uri = at_uri(did, POST_COLLECTION, rkey)
    post = PostIn(
        network="bluesky",
        external_id=uri,
        author_id=did,
        text=text,
        created_at=parse_time(created, "record.createdAt")
        if created
        else datetime.fromtimestamp(time_us / 1e6, UTC),
        language=langs[0] if isinstance(langs, list) and langs else None,
        url=f"https://bsky.app/profile/{did}/post/{rkey}",
        reply_to=parent if isinstance(parent, str) else None,
        quote_of=quote if isinstance(quote, str) else None,
        raw=raw,
    )
    return post, time_us
