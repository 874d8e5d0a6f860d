"""Parsers from each file/wire format to :class:`PostIn`. Pure functions, no I/O.

Each raises :class:`BadRecord` with a reason a person can act on; the caller dead-letters.
"""

from __future__ import annotations

import csv
import html
import re
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
    if type(value) is str and value:  # the common case, first
        return value
    if value is None or value == "":
        if required:
            raise BadRecord(f"missing {what}")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadRecord(f"{what} must be a string, got {type(value).__name__}")
    return str(value)


_fromisoformat = datetime.fromisoformat  # bound once: a classmethod binds on every access


def parse_time(value: Any, what: str = "created_at") -> datetime:
    if not isinstance(value, str) or not value:
        raise BadRecord(f"missing {what}")
    try:
        dt = _fromisoformat(value)
    except ValueError:
        raise BadRecord(f"{what} is not an ISO 8601 time: {value[:40]!r}") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _from_epoch(seconds: float, what: str) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise BadRecord(f"{what} is out of range: {seconds!r:.40}") from None


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
        else _from_epoch(time_us / 1e6, "time_us"),
        language=langs[0] if isinstance(langs, list) and langs else None,
        url=f"https://bsky.app/profile/{did}/post/{rkey}",
        reply_to=parent if isinstance(parent, str) else None,
        quote_of=quote if isinstance(quote, str) else None,
        raw=raw,
    )
    return post, time_us


# ------------------------------------------------------------------ Jetstream, live

REPOST_COLLECTION = "app.bsky.feed.repost"


def _bsky_post(did: str, rkey: str, record: dict[str, Any], time_us: int, raw: bytes) -> PostIn:
    text = record.get("text")
    if not isinstance(text, str):
        raise BadRecord("post record without text")
    reply = record.get("reply")
    parent = None
    if reply is not None:
        parent = _dig(reply, "parent", "uri")
        if not isinstance(parent, str) or not parent.startswith("at://"):
            raise BadRecord("reply without a parent at:// uri")
    embed = record.get("embed")
    quote = None
    if isinstance(embed, dict):
        embed_type = embed.get("$type")
        if embed_type == "app.bsky.embed.record":
            quote = _dig(embed, "record", "uri")
        elif embed_type == "app.bsky.embed.recordWithMedia":
            quote = _dig(embed, "record", "record", "uri")
    langs = record.get("langs")
    lang = langs[0] if isinstance(langs, list) and langs and isinstance(langs[0], str) else None
    created = record.get("createdAt")
    return PostIn(
        network="bluesky",
        external_id=f"at://{did}/{POST_COLLECTION}/{rkey}",
        author_id=did,
        text=text,
        created_at=parse_time(created, "record.createdAt")
        if created
        else _from_epoch(time_us / 1e6, "time_us"),
        language=lang,
        url=f"https://bsky.app/profile/{did}/post/{rkey}",
        reply_to=parent,
        quote_of=quote if isinstance(quote, str) else None,
        raw=raw,
    )


def jetstream_event(raw: bytes) -> tuple[str, PostIn | tuple[str, str] | None, int]:
    """A live Jetstream event as ``(what, payload, time_us)``.

    ``what`` is "post" (a new post), "edit" (an updated post: payload is the new
    version), "delete" (payload is the post key), "repost" (payload is a post whose
    ``repost_of`` is the subject) or "skip" (identity/account events, other collections).
    Raises :class:`BadRecord` with a reason for anything malformed.
    """
    doc = _decode_json(raw)
    if not isinstance(doc, dict):
        raise BadRecord(f"expected a JSON object, got {type(doc).__name__}")
    time_us = doc.get("time_us")
    if not isinstance(time_us, int) or isinstance(time_us, bool) or time_us <= 0:
        raise BadRecord("missing time_us")
    did = doc.get("did")
    if not isinstance(did, str) or not did.startswith("did:"):
        raise BadRecord("missing did")
    kind = doc.get("kind")
    if kind != "commit":
        if kind in ("identity", "account"):
            return "skip", None, time_us
        raise BadRecord(f"unknown event kind {str(kind)[:40]!r}")
    commit = doc.get("commit")
    if not isinstance(commit, dict):
        raise BadRecord("commit event without commit")
    collection = commit.get("collection")
    operation = commit.get("operation")
    rkey = commit.get("rkey")
    if not isinstance(collection, str) or not isinstance(rkey, str) or not rkey:
        raise BadRecord("commit without collection or rkey")
    if operation not in ("create", "update", "delete"):
        raise BadRecord(f"unknown commit operation {str(operation)[:40]!r}")
    if collection == POST_COLLECTION:
        if operation == "delete":
            return "delete", ("bluesky", f"at://{did}/{POST_COLLECTION}/{rkey}"), time_us
        record = commit.get("record")
        if not isinstance(record, dict):
            raise BadRecord(f"{operation} commit without record")
        post = _bsky_post(did, rkey, record, time_us, raw)
        return ("post" if operation == "create" else "edit"), post, time_us
    if collection == REPOST_COLLECTION and operation == "create":
        record = commit.get("record")
        subject = _dig(record, "subject", "uri")
        if not isinstance(subject, str) or not subject.startswith("at://"):
            raise BadRecord("repost without a subject at:// uri")
        created = _dig(record, "createdAt")
        return (
            "repost",
            PostIn(
                network="bluesky",
                external_id=f"at://{did}/{REPOST_COLLECTION}/{rkey}",
                author_id=did,
                text="",
                created_at=parse_time(created, "record.createdAt")
                if created
                else _from_epoch(time_us / 1e6, "time_us"),
                repost_of=subject,
                raw=raw,
            ),
            time_us,
        )
    return "skip", None, time_us


def parse_bsky_post_view(view: Any) -> PostIn:
    """An ``app.bsky.feed.defs#postView`` (searchPosts, getPosts) as a post."""
    if not isinstance(view, dict):
        raise BadRecord("post view is not an object")
    uri = view.get("uri")
    author = view.get("author")
    record = view.get("record")
    if not isinstance(uri, str) or not uri.startswith("at://"):
        raise BadRecord("post view without an at:// uri")
    if not isinstance(author, dict) or not isinstance(author.get("did"), str):
        raise BadRecord("post view without author.did")
    if not isinstance(record, dict):
        raise BadRecord("post view without record")
    did = author["did"]
    rkey = uri.rsplit("/", 1)[-1]
    post = _bsky_post(did, rkey, record, 1, orjson.dumps(view))
    handle = author.get("handle")
    name = author.get("displayName")
    return PostIn(
        network=post.network,
        external_id=uri,
        author_id=did,
        text=post.text,
        created_at=post.created_at,
        author_handle=handle if isinstance(handle, str) else None,
        author_name=name if isinstance(name, str) and name else None,
        language=post.language,
        url=f"https://bsky.app/profile/{handle or did}/post/{rkey}",
        reply_to=post.reply_to,
        quote_of=post.quote_of,
        raw=post.raw,
    )


# ------------------------------------------------------------------ Mastodon

_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_PARA = re.compile(r"</p>\s*<p[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")


def html_text(content: str) -> str:
    """Mastodon's status HTML as plain text (paragraphs and line breaks kept)."""
    if "<" not in content and "&" not in content:
        return content
    text = _PARA.sub("\n\n", _BR.sub("\n", content))
    return html.unescape(_TAG.sub("", text)).strip()


def parse_mastodon_status(doc: Any, instance: str, raw: bytes | None = None) -> PostIn:
    """A Mastodon ``Status`` entity. Ids are the instance's, so ours are ``host/id``."""
    if not isinstance(doc, dict):
        raise BadRecord(f"status is not an object, got {type(doc).__name__}")
    status_id = _str(doc.get("id"), "status id")
    account = doc.get("account")
    if not isinstance(account, dict):
        raise BadRecord("status without account")
    author = _str(account.get("id"), "account.id")
    reblog = doc.get("reblog")
    repost_of = None
    if reblog is not None:
        if not isinstance(reblog, dict):
            raise BadRecord("reblog is not a status")
        repost_of = f"{instance}/{_str(reblog.get('id'), 'reblog.id')}"
        content = ""
    else:
        body = doc.get("content")
        if not isinstance(body, str):
            raise BadRecord("status without content")
        content = body
    quote = doc.get("quote")
    quote_of = None
    if isinstance(quote, dict):  # Mastodon 4.4+: {"state": ..., "quoted_status": {...}}
        quoted = quote.get("quoted_status")
        if isinstance(quoted, dict) and quoted.get("id") is not None:
            quote_of = f"{instance}/{quoted['id']}"
    parent = _str(doc.get("in_reply_to_id"), "in_reply_to_id", required=False)
    spoiler = doc.get("spoiler_text")
    text = html_text(content)
    if isinstance(spoiler, str) and spoiler:
        text = f"{spoiler}\n\n{text}"
    lang = doc.get("language")
    return PostIn(
        network="mastodon",
        external_id=f"{instance}/{status_id}",
        author_id=f"{instance}/{author}",
        author_handle=_str(account.get("acct"), "account.acct", required=False),
        author_name=_str(account.get("display_name"), "account.display_name", required=False),
        text=text,
        created_at=parse_time(doc.get("created_at")),
        language=lang if isinstance(lang, str) else None,
        url=_str(doc.get("url"), "url", required=False),
        reply_to=f"{instance}/{parent}" if parent else None,
        quote_of=quote_of,
        repost_of=repost_of,
        raw=raw if raw is not None else orjson.dumps(doc),
    )


MastodonEvent = tuple[str, Any]  # ("post" | "private" | "edit" | "delete" | "skip", payload)


def _direct(doc: Any) -> bool:
    """A direct-visibility status: a private message to the accounts it mentions."""
    return isinstance(doc, dict) and doc.get("visibility") == "direct"


def mastodon_event(event: str, payload: Any, instance: str) -> MastodonEvent:
    """One streaming event (``update``, ``status.update``, ``delete``, ``notification``)."""
    if event in ("update", "status.update"):
        if not isinstance(payload, str | bytes):
            raise BadRecord(f"{event} without a payload")
        raw = payload.encode() if isinstance(payload, str) else payload
        doc = _decode_json(raw)
        post = parse_mastodon_status(doc, instance, raw)
        if _direct(doc):  # never a public post (an edit of one is kept as sent)
            return ("private" if event == "update" else "skip"), post
        return ("post" if event == "update" else "edit"), post
    if event == "delete":
        if not isinstance(payload, str | int) or isinstance(payload, bool) or payload == "":
            raise BadRecord("delete without a status id")
        return "delete", ("mastodon", f"{instance}/{payload}")
    if event == "notification":
        if not isinstance(payload, str | bytes):
            raise BadRecord("notification without a payload")
        raw = payload.encode() if isinstance(payload, str) else payload
        doc = _decode_json(raw)
        if not isinstance(doc, dict):
            raise BadRecord("notification is not an object")
        if doc.get("type") in ("mention", "status", "quote") and isinstance(
            doc.get("status"), dict
        ):
            what = "private" if _direct(doc["status"]) else "post"
            return what, parse_mastodon_status(doc["status"], instance)
        return "skip", None
    if isinstance(event, str) and event:
        return "skip", None  # filters_changed, announcement, conversation...
    raise BadRecord("frame without an event name")


def parse_mastodon_frame(raw: bytes, instance: str) -> MastodonEvent:
    """A WebSocket streaming frame: ``{"stream": [...], "event": ..., "payload": "..."}``."""
    doc = _decode_json(raw)
    if not isinstance(doc, dict):
        raise BadRecord(f"expected a JSON object, got {type(doc).__name__}")
    if "error" in doc and "event" not in doc:
        raise BadRecord(f"stream error: {str(doc['error'])[:100]}")
    event = doc.get("event")
    if not isinstance(event, str):
        raise BadRecord("frame without an event name")
    return mastodon_event(event, doc.get("payload"), instance)


# ------------------------------------------------------------------ Meta webhooks

MetaChange = tuple[str, Any]  # ("post" | "edit" | "delete" | "mention" | "skip", payload)


def parse_meta_delivery(doc: Any) -> tuple[list[MetaChange], list[tuple[str, str]]]:
    """A Graph API webhook delivery (``object`` page or instagram).

    Returns the changes and, for the bad ones, ``(position, reason)``. Page ``feed``
    changes carry comments and posts (verb add / edited / remove); Instagram sends
    ``comments`` and ``mentions``.
    """
    if not isinstance(doc, dict):
        raise BadRecord("delivery is not a JSON object")
    obj = doc.get("object")
    if obj not in ("page", "instagram"):
        raise BadRecord(f"unsupported object {str(obj)[:40]!r}")
    entries = doc.get("entry")
    if not isinstance(entries, list):
        raise BadRecord("delivery without entry list")
    changes: list[MetaChange] = []
    bad: list[tuple[str, str]] = []
    for i, entry in enumerate(entries):
        if isinstance(entry, dict) and "messaging" in entry and "changes" not in entry:
            continue  # private messages: connectors.messages.parse_meta_messaging
        if not isinstance(entry, dict) or not isinstance(entry.get("changes"), list):
            bad.append((f"entry {i}", "entry without changes"))
            continue
        for j, change in enumerate(entry["changes"]):
            try:
                changes.append(_meta_change(obj, entry, change))
            except BadRecord as exc:
                bad.append((f"entry {i} change {j}", str(exc)))
    return changes, bad


def _meta_change(obj: str, entry: dict[str, Any], change: Any) -> MetaChange:
    if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
        raise BadRecord("change without value")
    field_name, value = change.get("field"), change["value"]
    raw = orjson.dumps(change)
    if obj == "page":
        if field_name != "feed" or value.get("item") not in ("comment", "post", "status"):
            return "skip", None
        item_id = _str(value.get("comment_id") or value.get("post_id"), "comment_id")
        verb = value.get("verb")
        if verb == "remove":
            return "delete", ("facebook", item_id)
        sender = value.get("from")
        if not isinstance(sender, dict):
            raise BadRecord("feed change without from")
        created = value.get("created_time")
        if not isinstance(created, int | float) or isinstance(created, bool):
            raise BadRecord("created_time must be Unix seconds")
        parent = value.get("parent_id") if value.get("item") == "comment" else None
        post = PostIn(
            network="facebook",
            external_id=item_id or "",
            author_id=_str(sender.get("id"), "from.id") or "",
            author_name=_str(sender.get("name"), "from.name", required=False),
            text=str(value.get("message") or ""),
            created_at=_from_epoch(created, "created_time"),
            reply_to=_str(parent, "parent_id", required=False),
            url=_str(
                value.get("post", {}).get("permalink_url")
                if isinstance(value.get("post"), dict)
                else None,
                "permalink_url",
                required=False,
            ),
            raw=raw,
        )
        if verb == "add":
            return "post", post
        if verb == "edited":
            return "edit", post
        return "skip", None
    # instagram
    if field_name == "comments":
        comment_id = _str(value.get("id"), "id") or ""
        sender = value.get("from")
        if not isinstance(sender, dict):
            raise BadRecord("comment without from")
        media = value.get("media") if isinstance(value.get("media"), dict) else {}
        text = value.get("text")
        if not isinstance(text, str):
            raise BadRecord("comment without text")
        time_s = entry.get("time")
        when = (
            _from_epoch(time_s, "entry.time")
            if isinstance(time_s, int | float) and not isinstance(time_s, bool)
            else datetime.now(UTC)
        )
        parent = value.get("parent_id") or media.get("id")
        return "post", PostIn(
            network="instagram",
            external_id=comment_id,
            author_id=_str(sender.get("id"), "from.id") or "",
            author_handle=_str(sender.get("username"), "from.username", required=False),
            text=text,
            created_at=when,
            reply_to=_str(parent, "parent_id", required=False),
            raw=raw,
        )
    if field_name == "mentions":
        # Only ids: the mention's text is fetched through the Graph API by the connector.
        media_id = _str(value.get("media_id"), "media_id")
        return "mention", (media_id, _str(value.get("comment_id"), "comment_id", required=False))
    return "skip", None


def parse_ig_mention(doc: Any, raw: bytes) -> PostIn:
    """The Graph API's answer for a mentioned media or comment (``mentioned_media`` /
    ``mentioned_comment`` fields: id, caption or text, username, timestamp)."""
    if not isinstance(doc, dict):
        raise BadRecord("mention lookup is not an object")
    item_id = _str(doc.get("id"), "id") or ""
    text = doc.get("caption") if "caption" in doc else doc.get("text")
    if not isinstance(text, str):
        raise BadRecord("mention without caption or text")
    username = _str(doc.get("username"), "username") or ""
    return PostIn(
        network="instagram",
        external_id=item_id,
        author_id=username,
        author_handle=username,
        text=text,
        created_at=parse_time(
            str(doc.get("timestamp") or "").replace("+0000", "+00:00"), "timestamp"
        ),
        url=_str(doc.get("permalink"), "permalink", required=False),
        raw=raw,
    )
