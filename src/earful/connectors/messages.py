"""Private messages' wire formats: Messenger / Instagram messaging, X direct messages
(Account Activity deliveries and the v2 ``GET /2/dm_events`` poll) and Bluesky chat logs.

Every format goes through one walk (:func:`collect`): each event is parsed on its own,
a bad one becomes ``(position, reason)`` and the rest go on; messages the brand sent
itself (echoes) and events that are not messages (reads, deliveries, typing, reactions)
are counted as skipped. The parsers differ only in where the events sit and how one
event reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

from earful.connectors.wire import BadRecord, parse_time
from earful.pipeline.schema import PostIn

Bad = list[tuple[str, str]]
Parsed = tuple[list[PostIn], Bad, int]  # messages, bad events, skipped events

# The text of a message that only carries attachments (a photo, a voice note...).
ATTACHMENT_ONLY = "[{kinds} attached]"

# Meta sends Messenger and Instagram messages in one shape: ``object`` names the network.
META_NETWORKS = {"page": "facebook", "instagram": "instagram"}


def collect(events: Iterable[tuple[str, Any]], parse_one: Callable[[Any], PostIn | None]) -> Parsed:
    """Parse each ``(position, event)``; None from ``parse_one`` is a skipped event."""
    posts: list[PostIn] = []
    bad: Bad = []
    skipped = 0
    for where, event in events:
        try:
            post = parse_one(event)
        except BadRecord as exc:
            bad.append((where, str(exc)))
            continue
        if post is None:
            skipped += 1
        else:
            posts.append(post)
    return posts, bad, skipped


def _id(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise BadRecord(f"missing {what}")
    return str(value)


def _epoch_ms(value: Any, what: str) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise BadRecord(f"{what} must be Unix milliseconds")
    seconds = value / 1000 if value > 10_000_000_000 else value
    return datetime.fromtimestamp(seconds, UTC)


def _text(value: Any, what: str, attachments: Any = None) -> str:
    """The message's text, or what it attached when it has none; BadRecord when neither."""
    if value is not None and not isinstance(value, str):
        raise BadRecord(f"{what} must be a string")
    kinds = sorted(
        {str(a.get("type") or "file") for a in attachments if isinstance(a, dict)}
        if isinstance(attachments, list)
        else set()
    )
    text = value or (ATTACHMENT_ONLY.format(kinds=", ".join(kinds)) if kinds else "")
    if not text:
        raise BadRecord("message without text or attachments")
    return text


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# ------------------------------------------------------------------ Meta messaging


def parse_meta_messaging(doc: dict[str, Any]) -> Parsed:
    """``entry[].messaging[]`` of a page (Messenger) or instagram (Direct) delivery."""
    if not isinstance(doc, dict):
        raise BadRecord("delivery is not a JSON object")
    network = META_NETWORKS.get(str(doc.get("object")), "facebook")
    events: list[tuple[str, Any]] = []
    bad: Bad = []
    entries = doc.get("entry") or []
    if not isinstance(entries, list):
        return [], [("entry", "entry is not a list")], 0
    for i, entry in enumerate(entries):
        listed = entry.get("messaging") if isinstance(entry, dict) else None
        if listed is None:
            continue
        if not isinstance(listed, list):
            bad.append((f"entry {i}", "messaging is not a list"))
            continue
        events += [(f"entry {i} message {j}", e) for j, e in enumerate(listed)]
    posts, more, skipped = collect(events, lambda event: _meta_message(network, event))
    return posts, bad + more, skipped


def _meta_message(network: str, event: Any) -> PostIn | None:
    if not isinstance(event, dict):
        raise BadRecord("messaging event is not an object")
    message = event.get("message")
    if message is None:
        return None  # a read, a delivery receipt, a reaction, a postback
    if not isinstance(message, dict):
        raise BadRecord("message is not an object")
    if message.get("is_echo") or message.get("is_deleted"):
        return None  # our own message, sent from Meta's inbox; or one the sender unsent
    sender = event.get("sender")
    if not isinstance(sender, dict):
        raise BadRecord("message without sender")
    text = _text(message.get("text"), "message.text", message.get("attachments"))
    reply_to = message.get("reply_to")
    quoted = reply_to.get("mid") if isinstance(reply_to, dict) else None
    return PostIn(
        network=network,
        external_id=_id(message.get("mid"), "message.mid"),
        author_id=_id(sender.get("id"), "sender.id"),
        text=text,
        created_at=_epoch_ms(event.get("timestamp"), "timestamp"),
        reply_to=str(quoted) if quoted else None,
        raw=orjson.dumps(event),
    )


# ------------------------------------------------------------------ X Account Activity


def parse_x_activity(doc: Any) -> Parsed:
    """``direct_message_events`` of an Account Activity delivery (``for_user_id`` is the
    brand's account: what it sent itself is an echo). Other activities are skipped."""
    if not isinstance(doc, dict):
        raise BadRecord("delivery is not a JSON object")
    me = str(doc.get("for_user_id") or "")
    listed = doc.get("users")
    users: dict[str, Any] = listed if isinstance(listed, dict) else {}
    events = doc.get("direct_message_events")
    others = sum(1 for k, v in doc.items() if k.endswith("_events") and isinstance(v, list))
    if events is None:
        return [], [], others
    if not isinstance(events, list):
        return [], [("direct_message_events", "direct_message_events is not a list")], others
    posts, bad, skipped = collect(
        ((f"direct message {i}", e) for i, e in enumerate(events)),
        lambda event: _x_activity_message(event, me, users),
    )
    return posts, bad, skipped + others - 1


def _x_activity_message(event: Any, me: str, users: dict[str, Any]) -> PostIn | None:
    if not isinstance(event, dict):
        raise BadRecord("event is not an object")
    if event.get("type") != "message_create":
        return None
    create = event.get("message_create")
    if not isinstance(create, dict):
        raise BadRecord("message_create is not an object")
    sender = _id(create.get("sender_id"), "message_create.sender_id")
    if sender == me:
        return None  # the brand's own message (an answer sent through the API)
    data = create.get("message_data")
    if not isinstance(data, dict):
        raise BadRecord("message without message_data")
    attachment = data.get("attachment")
    text = _text(
        data.get("text"),
        "message_data.text",
        [attachment] if isinstance(attachment, dict) else None,
    )
    stamp = event.get("created_timestamp")
    try:
        millis = int(stamp) if isinstance(stamp, str | int) and not isinstance(stamp, bool) else 0
    except ValueError:
        millis = 0
    found = users.get(sender)
    user: dict[str, Any] = found if isinstance(found, dict) else {}
    return PostIn(
        network="x",
        external_id=_id(event.get("id"), "id"),
        author_id=sender,
        author_handle=_str_or_none(user.get("screen_name")),
        author_name=_str_or_none(user.get("name")),
        text=text,
        created_at=_epoch_ms(millis, "created_timestamp"),
        raw=orjson.dumps(event),
    )


# ------------------------------------------------------------------ X API v2 dm_events


def parse_x_dm_events(events: list[tuple[str, Any]], me: str, users: dict[str, Any]) -> Parsed:
    """``data[]`` of ``GET /2/dm_events`` pages (v2 shape: ``event_type``, ``sender_id``,
    ``created_at``); ``users`` is ``includes.users`` by id. The brand's own are echoes."""
    return collect(events, lambda event: _x_dm_event(event, me, users))


def _x_dm_event(event: Any, me: str, users: dict[str, Any]) -> PostIn | None:
    if not isinstance(event, dict):
        raise BadRecord("dm event is not an object")
    if event.get("event_type") != "MessageCreate":
        return None  # ParticipantsJoin / ParticipantsLeave
    sender = _id(event.get("sender_id"), "sender_id")
    if sender == me:
        return None
    found = users.get(sender)
    user: dict[str, Any] = found if isinstance(found, dict) else {}
    attachments = event.get("attachments")
    media = attachments.get("media_keys") if isinstance(attachments, dict) else None
    return PostIn(
        network="x",
        external_id=_id(event.get("id"), "id"),
        author_id=sender,
        author_handle=_str_or_none(user.get("username")),
        author_name=_str_or_none(user.get("name")),
        text=_text(event.get("text"), "text", [{"type": "media"}] if media else None),
        created_at=parse_time(event.get("created_at")),
        raw=orjson.dumps(event),
    )


# ------------------------------------------------------------------ Bluesky chat

LOG_CREATE_MESSAGE = "chat.bsky.convo.defs#logCreateMessage"
MESSAGE_VIEW = "chat.bsky.convo.defs#messageView"


def parse_bsky_chat(
    events: list[tuple[str, Any]], me: str, handles: dict[str, str] | None = None
) -> Parsed:
    """``chat.bsky.convo.getLog`` logs (or ``getMessages`` views wrapped as logs): each
    ``#logCreateMessage`` whose message is a ``#messageView`` by someone else is a message
    (the author is the sender's DID, the same account as their public posts); other log
    kinds (begin, accept, leave, read, reactions, deletions) are skipped. Each message
    carries its conversation as its thread: in a group chat (more than two ``members``)
    every sender is their own author, and all their messages are one conversation."""
    known = handles or {}
    return collect(events, lambda log: _bsky_log(log, me, known))


def chat_prefix(convo_id: str) -> str:
    """What the ids of a Bluesky chat conversation's messages start with."""
    return f"chat:{convo_id}:"


def _bsky_log(log: Any, me: str, handles: dict[str, str]) -> PostIn | None:
    if not isinstance(log, dict):
        raise BadRecord("log is not an object")
    if log.get("$type") != LOG_CREATE_MESSAGE:
        return None
    message = log.get("message")
    if not isinstance(message, dict):
        raise BadRecord("logCreateMessage without message")
    if message.get("$type", MESSAGE_VIEW) != MESSAGE_VIEW:
        return None  # a deletedMessageView: nothing to read
    sender = message.get("sender")
    did = _id(sender.get("did") if isinstance(sender, dict) else None, "message.sender.did")
    if did == me:
        return None  # the brand's own answer
    convo = _id(log.get("convoId"), "convoId")
    return PostIn(
        network="bluesky",
        external_id=chat_prefix(convo) + _id(message.get("id"), "message.id"),
        author_id=did,
        author_handle=handles.get(did),
        text=_text(message.get("text"), "message.text"),
        created_at=parse_time(message.get("sentAt"), "message.sentAt"),
        raw=orjson.dumps(log),
        thread=chat_prefix(convo),
    )
