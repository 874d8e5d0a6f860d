"""X API v2 against a fake: rules from queries, the filtered stream, recent search, acts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from earful.connectors.base import Backoff, ConnectorError
from earful.connectors.x import RuleError, X, parse_stream_line, x_rule
from earful.db import transaction
from earful.models import Post
from earful.sources import live
from tests.protocol.conftest import (
    assert_redacted,
    assert_relabelled,
    found_by_search,
    make_source,
)
from tests.protocol.fake_x import BRAND_ID, USERS, FakeX, compliance, tweet
from tests.protocol.server import serve


@pytest.fixture
def fake() -> Iterator[tuple[FakeX, str]]:
    server = FakeX()
    with serve(server.app()) as host:
        yield server, host


def connector(server: FakeX, host: str, **kw: Any) -> X:
    settings: dict[str, Any] = {
        "bearer_token": server.bearer,
        "user_token": server.user_token,
        "user_id": BRAND_ID,
        "queries": ["@acmeair OR #acmeair"],
        "base_url": f"http://{host}",
        "idle_timeout": 0.5,
        "batch_wait_s": 0.05,
        # The stall detector (the read timeout). The fake sends a keep-alive every 0.05 s,
        # but a loaded box can starve its thread for longer than a short detector allows,
        # and a spurious reconnect changes what the tests count; only the stall test
        # shortens it.
        "keepalive_s": 5.0,
        "network_step_s": 0.01,
        "http_error_s": 0.01,
        "rate_limit_s": 0.05,
        "max_failures": 5,
        "backfill": False,
        "source_key": "acme",
    }
    settings.update(kw)
    conn = X(**settings)
    conn.backoff = Backoff(base=0.01, cap=0.03)
    return conn


def stored(engine: Engine) -> dict[str, Post]:
    with transaction(engine) as session:
        return {p.external_id: p for p in session.scalars(select(Post))}


def ids(server: FakeX) -> list[str]:
    return [p["id"] for e, p in server.script if e == "tweet"]


@pytest.mark.parametrize(
    ("query", "rule"),
    [
        ("@acmeair OR #acmeair", "@acmeair OR #acmeair"),
        ('"lost bag" AND NOT refund', '"lost bag" -refund'),
        ("delay lang:en author:@bob is:reply", "delay lang:en from:bob is:reply"),
        ("(bag OR luggage) AND acme", "(bag OR luggage) acme"),
        ('bagage[baggage, "bag gage"]', '(bagage OR baggage OR "bag gage")'),
        ("acme AND NOT (refund OR voucher)", "acme -(refund OR voucher)"),
    ],
)
def test_rules_from_listening_queries(query: str, rule: str) -> None:
    assert x_rule(query) == rule


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("bag NEAR/3 lost", "proximity"),
        ('"lost bag"~2', "proximity"),
        ("refund*", "prefix"),
        ("refund~", "typo"),
        ("NOT refund", "on its own"),
        ("network:mastodon acme", "network:mastodon"),
    ],
)
def test_rules_x_cannot_express_are_refused_clearly(query: str, why: str) -> None:
    with pytest.raises(RuleError, match=why):
        x_rule(query)


def test_stream_with_replies_quotes_retweets_edits_deletions(
    engine: Engine, fake: tuple[FakeX, str]
) -> None:
    server, host = fake
    root, reply, quote, rt, _edit, *later = ids(server)
    source_id = make_source(engine, "x")
    summary = live.run(engine, connector(server, host), source_id)
    assert [r["value"] for r in server.rules.values()] == ["@acmeair OR #acmeair"]
    posts = stored(engine)
    assert set(posts) == {root, reply, quote, rt, *later}
    assert posts[reply].reply_to_external_id == root
    assert posts[quote].quote_of_external_id == root
    assert posts[rt].repost_of_external_id == root
    assert posts[quote].deleted_at is not None
    assert posts[root].text.endswith("(AMS)") and posts[root].edited_at is not None
    assert posts[root].url == f"https://x.com/traveller/status/{root}"
    assert summary.dead_lettered == 1  # the malformed line, kept with its reason
    assert_redacted(engine, "x", quote)
    assert found_by_search(engine, "look at this") == 0
    assert_relabelled(engine, "x", root)


def test_drop_and_outage_caught_up_by_recent_search_no_gap_no_duplicate(
    engine: Engine, fake: tuple[FakeX, str]
) -> None:
    server, host = fake
    server.drop_after = [2]
    server.outage = 3  # quote, retweet, edit happen while we are away
    source_id = make_source(engine, "x")
    conn = connector(server, host)
    live.run(engine, conn, source_id)
    assert conn.reconnects == 1 and len(server.connections) == 2
    assert any("since_id=" in r for r in server.requests)
    posts = stored(engine)
    root, reply, _quote, rt, _edit, *later = ids(server)
    assert {root, reply, rt, *later} <= set(posts)
    # A restart: one new tweet, heard both by the catch-up and the stream, is stored once
    # (the overlap is by design; idempotency on the id drops it).
    server.script.append(("tweet", server.script[-1][1] | {"id": "1861000000000009999"}))
    again = live.run(engine, connector(server, host), source_id)
    assert again.ingested == 1
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(Post)) == len(posts) + 1


def test_stalled_stream_without_keepalives_reconnects(
    engine: Engine, fake: tuple[FakeX, str]
) -> None:
    server, host = fake
    server.stall_after = 1
    source_id = make_source(engine, "x")
    conn = connector(server, host, keepalive_s=0.4)  # before the idle end (0.5 s)
    live.run(engine, conn, source_id)
    assert conn.reconnects == 1
    assert len(stored(engine)) == 8


def test_429_and_503_on_connect_back_off_as_x_asks(engine: Engine, fake: tuple[FakeX, str]) -> None:
    server, host = fake
    server.stream_status = [429, 503, 503]
    server.rate_limit_next = 1  # the rules call too
    source_id = make_source(engine, "x")
    conn = connector(server, host)
    delays: list[float] = []
    policy = conn.reconnect
    for name in ("rate_limited", "http_error", "network_error"):
        method = getattr(policy, name)

        def record(*a: Any, _method: Any = method) -> float:
            delays.append(_method(*a))
            return delays[-1]

        setattr(policy, name, record)
    live.run(engine, conn, source_id)
    assert len(stored(engine)) == 8
    assert conn.reconnects == 3
    # 429: from rate_limit_s (one minute in production); HTTP errors: exponential.
    assert delays[:3] == [pytest.approx(0.05), pytest.approx(0.01), pytest.approx(0.02)]


def test_bad_token_fails_without_retrying(engine: Engine, fake: tuple[FakeX, str]) -> None:
    server, host = fake
    source_id = make_source(engine, "x")
    with pytest.raises(ConnectorError, match="401"):
        live.run(engine, connector(server, host, bearer_token="wrong"), source_id)


def test_reply_like_retweet_dm(fake: tuple[FakeX, str]) -> None:
    server, host = fake
    for event, payload in server.script:
        server._happen(event, payload)
    root, reply, *_ = ids(server)
    conn = connector(server, host)
    server.rate_limit_next = 1

    async def act() -> Any:
        try:
            sent = await conn.reply(reply, "@otherone We are on it.")
            await conn.like(root)
            await conn.repost(root)
            await conn.direct_message("17874544", "Your file number?")
            return sent
        finally:
            await conn.aclose()

    sent = asyncio.run(act())
    new = server.tweets[sent.external_id]
    assert new["referenced_tweets"] == [{"type": "replied_to", "id": reply}]
    assert new["conversation_id"] == server.tweets[reply]["conversation_id"]
    assert (BRAND_ID, root) in server.likes and (BRAND_ID, root) in server.retweets
    assert server.dms == [("17874544", "Your file number?")]
    # Our own reply heard back is the brand's.
    kind, post = parse_stream_line(b'{"data": %s}' % __import__("orjson").dumps(new), BRAND_ID)
    assert kind == "post" and post.author_is_brand


@pytest.mark.parametrize(
    "bad_id",
    ["18610000000000000012", "\u0661" * 19],  # over 64 bits; digits, but not ASCII ones
)
def test_ids_x_never_gives_are_dead_lettered_not_kept_as_since_id(
    engine: Engine, fake: tuple[FakeX, str], bad_id: str
) -> None:
    """Such an id was taken for the newest: the next catch-up's since_id got HTTP 400."""
    server, host = fake
    bad = tweet("@acmeair my id is odd") | {"id": bad_id}
    server.script = [server.script[0], ("tweet", bad), server.script[1]]
    source_id = make_source(engine, "x")
    summary = live.run(engine, connector(server, host), source_id)
    assert summary.ingested == 2 and summary.dead_lettered == 1
    server.script.append(("tweet", tweet("@acmeair and now?")))
    again = live.run(engine, connector(server, host), source_id)
    assert again.ingested == 1
    assert bad_id not in stored(engine)


def test_recent_search_with_cut_emoji_and_huge_numbers(
    engine: Engine, fake: tuple[FakeX, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recent search comes through the standard json module: a lone surrogate or an
    integer over 64 bits in the page made the catch-up crash."""
    server, host = fake
    server.script = []
    monkeypatch.setitem(USERS, "555", {"id": "555", "name": "Cut \ud83d", "username": "cutemoji"})
    good = tweet("@acmeair fine here", "555")
    cut = tweet("@acmeair lost my bag \ud83d")  # an emoji cut in half
    huge = tweet("@acmeair big numbers") | {"public_metrics": {"impression_count": 2**64}}
    for doc in (good, cut, huge):
        server._happen("tweet", doc)
    source_id = make_source(engine, "x")
    summary = live.run(engine, connector(server, host, backfill=True), source_id)
    posts = stored(engine)
    assert set(posts) == {good["id"]}
    assert posts[good["id"]].url == f"https://x.com/cutemoji/status/{good['id']}"
    assert summary.dead_lettered == 2


def test_compliance_stream_marks_deleted_posts(engine: Engine, fake: tuple[FakeX, str]) -> None:
    server, host = fake
    tweets = {p["id"]: p for e, p in server.script if e == "tweet"}
    root, reply, quote, rt, _edit, *later = tweets
    source_id = make_source(engine, "x")
    live.run(engine, connector(server, host, compliance_partitions=[1, 2, 3, 4]), source_id)
    # Later, while listening: deletions and other compliance events, in all partitions.
    server.compliance_script = [
        (1, compliance("delete", tweets[reply])),
        (2, compliance("tweet_edit", tweets[root], initial_tweet_id=root, edit_tweet_ids=[root])),
        (2, compliance("drop", tweets[rt])),
        (3, compliance("withheld", tweets[rt], withheld_in_countries=["DE"])),
        (4, compliance("delete", tweet("never heard of"))),
        (4, compliance("delete", tweets[later[0]])),
    ]
    server.requests.clear()
    # Idle means no frame for this long, counted from when all five streams are open; a
    # longer one lets a process stalled for a while (a full GC late in the suite) still
    # read what the partitions sent before the run ends.
    conn = connector(server, host, compliance_partitions=[1, 2, 3, 4], idle_timeout=3.0)
    summary = live.run(engine, conn, source_id)
    posts = stored(engine)
    assert {p for p, post in posts.items() if post.deleted_at} == {quote, reply, later[0]}
    assert summary.skipped == 3 and summary.dead_lettered == 0
    asked = [r for r in server.requests if r.startswith("GET /2/tweets/compliance/stream")]
    assert sorted(asked) == [
        f"GET /2/tweets/compliance/stream?partition={p}&backfill_minutes=5" for p in "1234"
    ]


def test_compliance_stream_drop_is_backfilled_on_reconnect(
    engine: Engine, fake: tuple[FakeX, str]
) -> None:
    server, host = fake
    root, reply, *_ = ids(server)
    tweets = {p["id"]: p for e, p in server.script if e == "tweet"}
    source_id = make_source(engine, "x")
    live.run(engine, connector(server, host, compliance_partitions=[2]), source_id)
    server.compliance_script = [
        (2, compliance("delete", tweets[reply])),
        (2, compliance("delete", tweets[root])),  # happens while the partition is down
    ]
    server.compliance_drop_after = [1]
    server.compliance_outage = 1
    conn = connector(server, host, compliance_partitions=[2], idle_timeout=3.0)
    live.run(engine, conn, source_id)
    assert conn.reconnects == 1  # the partition dropped; everything reconnected
    posts = stored(engine)
    assert posts[root].deleted_at is not None and posts[reply].deleted_at is not None


def test_compliance_partition_refused_on_connect_costs_no_post(
    engine: Engine, fake: tuple[FakeX, str]
) -> None:
    # A partition that refuses (or, on a loaded box, answers after the read timeout) ends
    # the connection. Had the filtered stream been opened already, X would have sent the
    # posts on it, and with nothing stored yet and no backfill nothing would find them.
    server, host = fake
    root, reply, quote, rt, _edit, *later = ids(server)
    server.compliance_status = [503]
    source_id = make_source(engine, "x")
    conn = connector(server, host, compliance_partitions=[1, 2, 3, 4])
    live.run(engine, conn, source_id)
    assert conn.reconnects == 1
    posts = stored(engine)
    assert set(posts) == {root, reply, quote, rt, *later}
    assert posts[quote].deleted_at is not None  # heard on the filtered stream


def test_compliance_settings_are_checked() -> None:
    with pytest.raises(ConnectorError, match="partitions are 1 to 4"):
        X(bearer_token="t", rules=["acme"], compliance_partitions=[5])
    with pytest.raises(ConnectorError, match="0 to 5 minutes"):
        X(bearer_token="t", rules=["acme"], compliance_backfill_min=6)
