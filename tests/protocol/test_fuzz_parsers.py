"""Malformed frames at every wire parser: no crash, every refusal a BadRecord with a reason.

Hypothesis picks the seeds; each seed drives a fast loop of mutations of real-shaped
samples (byte flips, truncations, wrong types, missing keys), so the whole file throws
well over 100,000 frames at the parsers in a few seconds. Polled networks (Reddit
listings, X recent search) go through the connector's own page handling, HTTP aside:
every page gives valid posts, edits and deletions, or dead letters with reasons.
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from earful.connectors import messages, wire
from earful.connectors.base import ActionError, Batch
from earful.connectors.http import check
from earful.connectors.reddit import FULLNAME, Reddit
from earful.connectors.x import COMPLIANCE_SKIPPED, X, parse_stream_line
from earful.pipeline.schema import PostIn
from tests.protocol import fake_x
from tests.protocol.fake_mastodon import sample_script
from tests.protocol.fake_reddit import comment, listing, submission

SAMPLES = Path(__file__).parent / "samples"
PER_SEED = 1000
TOTAL = {"frames": 0}

ODD: list[Any] = [
    None,
    0,
    -1,
    2**70,
    1.5,
    float("inf"),
    "",
    "x" * 300,
    "did:",
    "at://",
    [],
    {},
    True,
    [1, "a"],
    {"$type": 1},
    "2024-13-45T99:99:99Z",
    "\x00\ud800",
]


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _mutate_doc(doc: Any, rng: random.Random, odd: Sequence[Any] = ODD) -> Any:
    doc = orjson.loads(orjson.dumps(doc))
    for _ in range(rng.randint(1, 3)):
        paths = _paths(doc)
        path = rng.choice(paths)
        if not path:
            return copy.deepcopy(rng.choice(odd))
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and rng.random() < 0.3:
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(odd))
    return doc


def _mutate_bytes(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw)
    op = rng.randrange(4)
    if op == 0 and data:
        data[rng.randrange(len(data))] = rng.randrange(256)
    elif op == 1:
        del data[rng.randrange(len(data) + 1) :]
    elif op == 2:
        at = rng.randrange(len(data) + 1)
        data[at:at] = rng.randbytes(rng.randint(1, 8))
    else:
        data = bytearray(rng.randbytes(rng.randint(0, 64)))
    return bytes(data)


def _dumps(doc: Any) -> bytes:
    try:
        return orjson.dumps(doc)
    except (TypeError, orjson.JSONEncodeError):
        return b"{"


def hammer(
    seed: int,
    samples: list[Any],
    parse: Callable[[bytes], object],
    dumps: Callable[[Any], bytes] = _dumps,
    odd: Sequence[Any] = ODD,
) -> int:
    """Parse PER_SEED mutants; anything but success or BadRecord(reason) fails the test."""
    rng = random.Random(seed)
    refused = 0
    for _ in range(PER_SEED):
        sample = rng.choice(samples)
        if rng.random() < 0.5:
            raw = dumps(_mutate_doc(sample, rng, odd))
        else:
            raw = _mutate_bytes(dumps(sample), rng)
        try:
            parse(raw)
        except wire.BadRecord as exc:
            assert str(exc), f"refused without a reason: {raw[:200]!r}"
            refused += 1
        except wire.NotAPost:
            pass
    TOTAL["frames"] += PER_SEED
    return refused


JETSTREAM = [orjson.loads(line) for line in (SAMPLES / "jetstream.jsonl").read_bytes().splitlines()]
MASTODON = [
    {
        "stream": ["hashtag", "acmeair"],
        "event": e,
        "payload": p if isinstance(p, str) or p is None else orjson.dumps(p).decode(),
    }
    for e, p in sample_script()
] + [
    {
        "stream": ["user"],
        "event": "notification",
        "payload": orjson.dumps(
            {"id": "1", "type": "mention", "status": sample_script()[0][1]}
        ).decode(),
    }
]
MASTODON_STATUSES = [p for e, p in sample_script() if e == "update"]
META = [
    orjson.loads((SAMPLES / name).read_text().replace("TIME", "1732370000"))
    for name in ("meta_page_feed.json", "meta_instagram.json")
]
POSTS = [
    {
        "network": "forum",
        "id": "1",
        "author": {"id": "u", "handle": "h"},
        "text": "hi",
        "created_at": "2024-11-23T13:53:20+00:00",
        "reply_to": "0",
        "lang": "en",
    }
]


def _meta(raw: bytes) -> object:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise wire.BadRecord("invalid JSON") from None
    changes, bad = wire.parse_meta_delivery(doc)
    assert all(reason for _, reason in bad)
    return changes


@settings(max_examples=50, deadline=None, database=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_fuzz_jetstream(seed: int) -> None:
    assert hammer(seed, JETSTREAM, wire.jetstream_event) > 0


@settings(max_examples=25, deadline=None, database=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_fuzz_mastodon_frames(seed: int) -> None:
    hammer(seed, MASTODON, lambda raw: wire.parse_mastodon_frame(raw, "m.example"))


@settings(max_examples=10, deadline=None, database=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_fuzz_mastodon_statuses(seed: int) -> None:
    hammer(
        seed,
        MASTODON_STATUSES,
        lambda raw: wire.parse_mastodon_status(wire._decode_json(raw), "m.example", raw),
    )


@settings(max_examples=10, deadline=None, database=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_fuzz_meta_deliveries(seed: int) -> None:
    hammer(seed, META, _meta)


X_DM_PAGE = {
    "data": [
        {"id": "1863581090342535174", "event_type": "MessageCreate", "text": "bag lost",
         "sender_id": "2244994945", "dm_conversation_id": "783214-2244994945",
         "created_at": "2024-11-23T13:53:20.000Z"},
        {"id": "1863581090342535175", "event_type": "MessageCreate", "text": "on it",
         "sender_id": "783214", "dm_conversation_id": "783214-2244994945",
         "created_at": "2024-11-23T13:54:20.000Z", "attachments": {"media_keys": ["3_1"]}},
        {"id": "1863581090342535176", "event_type": "ParticipantsJoin",
         "dm_conversation_id": "1-2", "created_at": "2024-11-23T13:55:20.000Z"},
    ],
    "includes": {"users": [{"id": "2244994945", "name": "Dana", "username": "traveller"}]},
}  # fmt: skip
BSKY_LOGS = {
    "logs": [
        {"$type": "chat.bsky.convo.defs#logCreateMessage", "rev": "2222222000002",
         "convoId": "3lconvo00001",
         "message": {"$type": "chat.bsky.convo.defs#messageView", "id": "3lmsg1", "rev": "2",
                     "text": "hi", "sender": {"did": "did:plc:dana"},
                     "sentAt": "2024-11-23T13:53:20.000Z"}},
        {"$type": "chat.bsky.convo.defs#logBeginConvo", "rev": "2222222000001",
         "convoId": "3lconvo00001"},
        {"$type": "chat.bsky.convo.defs#logCreateMessage", "rev": "2222222000003",
         "convoId": "3lconvo00001",
         "message": {"$type": "chat.bsky.convo.defs#deletedMessageView", "id": "3lmsg2",
                     "rev": "3", "sender": {"did": "did:plc:dana"},
                     "sentAt": "2024-11-23T13:53:21.000Z"}},
    ]
}  # fmt: skip
X_ACTIVITY = orjson.loads(
    (SAMPLES / "x_activity_dm.json").read_text().replace("BRAND", "783214").replace("TIME", "1")
)


def _private(parse: Callable[[Any], messages.Parsed]) -> Callable[[bytes], object]:
    """A private-message parser over raw bytes: every bad event has a reason."""

    def run(raw: bytes) -> object:
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise wire.BadRecord("invalid JSON") from None
        posts, bad, _ = parse(doc)
        assert all(where and reason for where, reason in bad)
        assert all(isinstance(p, PostIn) and p.text for p in posts)
        return posts

    return run


def _listed(doc: Any, key: str) -> list[tuple[str, Any]]:
    items = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise wire.BadRecord(f"{key} is not a list")
    return [(str(i), item) for i, item in enumerate(items)]


def _x_users(doc: Any) -> dict[str, Any]:
    """``includes.users`` by id, as the connector reads it (what is not a user is ignored)."""
    includes = doc.get("includes") if isinstance(doc, dict) else None
    users = includes.get("users") if isinstance(includes, dict) else None
    listed = users if isinstance(users, list) else []
    return {u["id"]: u for u in listed if isinstance(u, dict) and isinstance(u.get("id"), str)}


@settings(max_examples=10, deadline=None, database=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_fuzz_private_messages(seed: int) -> None:
    """Messenger / Instagram, X (webhook and dm_events) and Bluesky chat messages."""
    hammer(seed, META, _private(messages.parse_meta_messaging))
    hammer(seed, [X_ACTIVITY], _private(messages.parse_x_activity))
    hammer(
        seed,
        [X_DM_PAGE],
        _private(lambda d: messages.parse_x_dm_events(_listed(d, "data"), "783214", _x_users(d))),
    )
    hammer(
        seed,
        [BSKY_LOGS],
        _private(lambda d: messages.parse_bsky_chat(_listed(d, "logs"), "did:plc:acme")),
    )


@settings(max_examples=10, deadline=None, database=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_fuzz_post_json_and_replay_jetstream(seed: int) -> None:
    hammer(seed, POSTS, wire.parse_post_json)
    hammer(seed, JETSTREAM, wire.parse_jetstream)


# ---------------------------------------------------------------- Reddit and X
#
# Their REST pages reach the parsers through httpx, whose ``json()`` is the standard
# module's: unlike orjson it lets integers over 64 bits, NaN / Infinity and lone
# surrogates ("\ud800") through, so the mutants are written and read the same way.

ODD_HTTP: list[Any] = [
    *ODD,
    10**400,
    float("nan"),
    "[deleted]",
    "t1_" + "z" * 20,
    "t3_",
    "\u0661\u0662\u0663",  # digits, but not ASCII ones
]


def _http_dumps(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def _http_json(raw: bytes) -> Any:
    """The body as a connector gets it (``check`` of an httpx response); None when it is
    not JSON at all, which the HTTP layer refuses before any parser sees it."""
    try:
        return check(httpx.Response(200, content=raw), "page")
    except ActionError as exc:
        assert "not JSON" in str(exc)
        return None


def _storable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no database takes it
        return False
    return True


def assert_valid_post(post: Any, network: str) -> None:
    assert isinstance(post, PostIn) and post.network == network
    assert isinstance(post.external_id, str) and post.external_id
    assert isinstance(post.author_id, str) and post.author_id
    assert isinstance(post.text, str)
    assert isinstance(post.created_at, datetime) and post.created_at.tzinfo is not None
    assert isinstance(post.raw, bytes)
    for value in (
        post.external_id,
        post.author_id,
        post.text,
        post.author_handle,
        post.author_name,
        post.language,
        post.url,
        post.reply_to,
        post.quote_of,
        post.repost_of,
    ):
        assert value is None or (isinstance(value, str) and _storable(value)), post


def assert_valid_batch(batch: Batch, network: str) -> None:
    """Valid posts and edits, deletions by id, every dead letter with a reason."""
    for post in (*batch.posts, *batch.edited):
        assert_valid_post(post, network)
    for bad in batch.rejected:
        assert isinstance(bad.reason, str) and bad.reason, bad
        assert isinstance(bad.position, str) and isinstance(bad.raw, bytes)
    for net, ident in batch.deleted:
        assert net == network and isinstance(ident, str) and ident
    if batch.cursor is not None:
        orjson.loads(batch.cursor)


def _x_id(value: str | None) -> bool:
    """X ids are 64-bit snowflakes; anything else in ``since_id`` makes X answer 400."""
    return value is None or (value.isascii() and value.isdigit() and int(value) < 2**63)


async def _collect(batches: AsyncIterator[Batch]) -> list[Batch]:
    return [batch async for batch in batches]


class _PagedReddit(Reddit):
    """Reddit whose every API call answers ``page`` (the listings and /api/info alike)."""

    page: Any = None

    async def _api(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.page


def _reddit_pages() -> list[Any]:
    post = submission("acmeair", "Lost bag on 212", "Where is it?")
    reply = comment(post, "same here")
    deeper = comment(reply, "and me", author="acme_support")
    crosspost = submission("travel", "x-post", crosspost_parent=post["data"]["name"])
    link = submission("acmeair", "A link", is_self=False, url="https://example.com/")
    edited = comment(post, "edited text")
    edited["data"]["edited"] = 1732370999.0
    gone = comment(post, "[deleted]", author="[deleted]")
    removed = submission("acmeair", "spam", "[removed]", removed_by_category="moderator")
    return [
        listing([deeper, reply, post], after=post["data"]["name"]),
        listing([crosspost, link, removed], None),
        listing([edited, gone], None),
    ]


REDDIT_PAGES = _reddit_pages()
REDDIT_NAMES = [t["data"]["name"] for page in REDDIT_PAGES for t in page["data"]["children"]]
# No marks yet (backfill), marks amid the pages, marks past them all (only edits and
# deletions of watched items come through /api/info).
REDDIT_MARKS: list[dict[str, str]] = [
    {},
    {"acmeair:new": REDDIT_NAMES[2], "acmeair:comments": REDDIT_NAMES[1]},
    {"acmeair:new": "t3_zzzzzzz", "acmeair:comments": "t1_zzzzzzz"},
]


def _reddit_poll(raw: bytes, conn: _PagedReddit, runner: asyncio.Runner) -> object:
    """One poll (both listings, then /api/info) over the page: valid posts, deletions and
    edits, or dead letters with reasons; the high-water marks stay well-formed fullnames."""
    doc = _http_json(raw)
    if doc is None:
        return None
    conn.page = doc
    marks = dict(REDDIT_MARKS[len(raw) % len(REDDIT_MARKS)])
    watch = dict.fromkeys(REDDIT_NAMES, 0.0)
    batches = runner.run(_collect(conn.poll(marks, watch)))
    for batch in batches:
        assert_valid_batch(batch, "reddit")
        state = orjson.loads(batch.cursor or "{}")
        assert all(FULLNAME.fullmatch(mark) for mark in state.get("hw", {}).values()), state
    return batches


class _PagedX(X):
    """X whose every API call answers ``page``."""

    page: Any = None

    async def _call(self, method: str, path: str, user: bool = False, **kw: Any) -> Any:
        return self.page


def _x_pages() -> list[Any]:
    script = fake_x.sample_script()
    tweets = [p for e, p in script if e == "tweet"]
    return [
        {
            "data": tweets[::-1],  # newest first
            "includes": {"users": list(fake_x.USERS.values())},
            "meta": {"result_count": len(tweets), "next_token": "b26v89c19zqg8o3f"},
        },
        {
            "data": tweets[:2],
            "includes": {"users": [fake_x.USERS["17874544"]]},
            "meta": {"result_count": 2},
        },
    ]


def _x_lines() -> list[Any]:
    server = fake_x.FakeX()
    server.rules = {"1": {"value": "@acmeair OR #acmeair", "tag": "earful:acme"}}
    lines = [orjson.loads(server._line(e, p)) for e, p in server.script if e != "garbage"]
    error = {
        "errors": [
            {
                "title": "operational-disconnect",
                "disconnect_type": "UpstreamOperationalDisconnect",
                "detail": "This stream has been disconnected upstream for operational reasons.",
                "type": "https://api.twitter.com/2/problems/operational-disconnect",
            }
        ]
    }
    root, *_ = (p for e, p in server.script if e == "tweet")
    events = [
        fake_x.compliance("delete", root),
        fake_x.compliance("tweet_edit", root, initial_tweet_id="1", edit_tweet_ids=["1", "2"]),
        fake_x.compliance("withheld", root, withheld_in_countries=["DE"]),
        fake_x.compliance("drop", root),
    ]
    return [*lines, error, *events]


X_PAGES = _x_pages()
X_LINES = _x_lines()


def _x_search(raw: bytes, conn: _PagedX, runner: asyncio.Runner) -> object:
    """The catch-up over recent search: valid posts and edits or dead letters with
    reasons, and a ``since_id`` X will take."""
    doc = _http_json(raw)
    if doc is None:
        return None
    conn.page = doc
    batch = Batch(posts=[])
    newest: str | None = "1861000000000000000"
    for page in runner.run(conn.catch_up(newest)):
        newest = conn.take_page(batch, page, newest)
    assert_valid_batch(batch, "x")
    assert _x_id(newest), newest
    return batch


def _x_line(raw: bytes) -> object:
    what, item = parse_stream_line(raw, fake_x.BRAND_ID)
    if what in ("post", "edit"):
        assert_valid_post(item, "x")
        assert _x_id(item.external_id), item
    elif what == "delete":
        assert item[0] == "x" and _x_id(item[1]), item
    elif what == "skip":
        assert item in COMPLIANCE_SKIPPED
    else:
        assert what == "error" and isinstance(item, str) and item
    return item


@settings(max_examples=10, deadline=None, database=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_fuzz_reddit_listings(seed: int) -> None:
    conn = _PagedReddit("c", username="acme_support", password="p", subreddits=["acmeair"])
    conn.max_pages = 2
    with asyncio.Runner() as runner:
        hammer(seed, REDDIT_PAGES, lambda r: _reddit_poll(r, conn, runner), _http_dumps, ODD_HTTP)


@settings(max_examples=15, deadline=None, database=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_fuzz_x_stream_lines(seed: int) -> None:
    assert hammer(seed, X_LINES, _x_line) > 0


@settings(max_examples=10, deadline=None, database=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_fuzz_x_recent_search(seed: int) -> None:
    conn = _PagedX("t", rules=["acmeair"], user_id=fake_x.BRAND_ID, catch_up_pages=2)
    with asyncio.Runner() as runner:
        hammer(seed, X_PAGES, lambda r: _x_search(r, conn, runner), _http_dumps, ODD_HTTP)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, database=None)
@given(json_values)
def test_arbitrary_json_is_refused_with_a_reason(doc: Any) -> None:
    raw = _dumps(doc)
    parsers: list[Callable[[bytes], object]] = [
        wire.jetstream_event,
        lambda r: wire.parse_mastodon_frame(r, "m"),
        _meta,
        _x_line,
    ]
    for parse in parsers:
        try:
            parse(raw)
        except wire.BadRecord as exc:
            assert str(exc)
    TOTAL["frames"] += len(parsers)


def test_zz_total_frames_thrown() -> None:
    """Runs last in this module (name order within the file is definition order)."""
    assert TOTAL["frames"] >= 100_000 or TOTAL["frames"] == 0  # 0: run on its own
