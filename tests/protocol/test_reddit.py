"""Reddit against a fake oauth.reddit.com: listings, cursors, edits, deletions, limits, acts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select

from earful.connectors.base import AuthError, Backoff, ConnectorError, NotSupported
from earful.connectors.reddit import Reddit, parse_thing
from earful.db import transaction
from earful.models import DeadLetter, Post
from earful.sources import live
from tests.protocol.conftest import (
    assert_redacted,
    assert_relabelled,
    found_by_search,
    make_source,
)
from tests.protocol.fake_reddit import CLIENT_ID, CLIENT_SECRET, FakeReddit
from tests.protocol.server import serve


@pytest.fixture
def fake() -> Iterator[tuple[FakeReddit, str]]:
    server = FakeReddit()
    with serve(server.app()) as host:
        yield server, host


def connector(server: FakeReddit, host: str, **kw: Any) -> Reddit:
    settings: dict[str, Any] = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "username": server.username,
        "password": server.password,
        "subreddits": ["acmeair"],
        "base_url": f"http://{host}",
        "auth_url": f"http://{host}",
        "poll_interval": 0.02,
        "idle_timeout": 0.1,
        "max_failures": 3,
    }
    settings.update(kw)
    conn = Reddit(**settings)
    conn.backoff = Backoff(base=0.01, cap=0.03)
    return conn


def stored(engine: Engine) -> dict[str, Post]:
    with transaction(engine) as session:
        return {p.external_id: p for p in session.scalars(select(Post))}


def seed(server: FakeReddit) -> dict[str, dict[str, Any]]:
    root = server.submit("acmeair", "Lost my bag on flight 212", "Please help, call me.")
    reply = server.comment(root, "same here, no bag since Tuesday")
    nested = server.comment(reply, "@acme_support any news?", author="third")
    cross = server.submit("travel", "Crosspost: lost bag", crosspost_parent=root["data"]["name"])
    cross["data"]["subreddit"] = "acmeair"
    gone = server.comment(root, "this was rude")
    server.delete(gone, by_mod=True)  # removed before we ever saw it
    return {"root": root, "reply": reply, "nested": nested, "cross": cross, "gone": gone}


def name(thing: dict[str, Any]) -> str:
    return str(thing["data"]["name"])


def test_listings_with_replies_crossposts_edits_and_deletions(
    engine: Engine, fake: tuple[FakeReddit, str]
) -> None:
    server, host = fake
    t = seed(server)
    source_id = make_source(engine, "reddit")
    summary = live.run(engine, connector(server, host), source_id)
    posts = stored(engine)
    assert set(posts) == {name(t[k]) for k in ("root", "reply", "nested", "cross")}
    assert summary.ingested == 4
    assert posts[name(t["reply"])].reply_to_external_id == name(t["root"])
    assert posts[name(t["nested"])].reply_to_external_id == name(t["reply"])
    assert posts[name(t["cross"])].repost_of_external_id == name(t["root"])
    root = posts[name(t["root"])]
    assert root.text == "Lost my bag on flight 212\n\nPlease help, call me."
    assert root.url and root.url.startswith("https://www.reddit.com/r/acmeair/comments/")
    assert name(t["gone"]) not in posts  # "[removed]" text is never stored

    # Later: the author edits the submission, a comment is deleted, a new one arrives.
    server.edit(t["root"], "Found it, thanks!")
    server.delete(t["reply"])
    late = server.comment(t["root"], "glad it worked out")
    again = live.run(engine, connector(server, host), source_id)
    assert again.ingested == 1 and again.duplicates == 0
    posts = stored(engine)
    assert posts[name(t["root"])].text == "Lost my bag on flight 212\n\nFound it, thanks!"
    assert posts[name(t["root"])].edited_at is not None
    assert posts[name(t["reply"])].deleted_at is not None
    assert name(late) in posts
    assert_redacted(engine, "reddit", name(t["reply"]))
    assert found_by_search(engine, "Tuesday") == 0
    assert_relabelled(engine, "reddit", name(t["root"]))


def test_restart_resumes_from_the_cursor_with_no_gap_and_no_duplicate(
    engine: Engine, fake: tuple[FakeReddit, str]
) -> None:
    server, host = fake
    root = server.submit("acmeair", "first")
    for i in range(11):
        server.comment(root, f"comment {i}")
    source_id = make_source(engine, "reddit")
    # Backfill takes one page of 4; then the API dies mid-poll and the connector gives up.
    server.fail_after = 5
    with pytest.raises(ConnectorError):
        live.run(engine, connector(server, host, page_size=4), source_id)
    first = set(stored(engine))
    assert first  # something was stored before the outage
    # While we were away: more comments than one page, and new submissions.
    later = [server.comment(root, f"later {i}") for i in range(9)]
    more = [server.submit("acmeair", f"sub {i}") for i in range(5)]
    server.fail_after = None
    summary = live.run(engine, connector(server, host, page_size=4), source_id)
    posts = stored(engine)
    assert {name(t) for t in later + more} <= set(posts)  # no gap (paged with `after`)
    assert summary.duplicates == 0
    assert summary.ingested == len(posts) - len(first)
    pages = [r for r in server.requests if "/comments?" in r and "after=t1_" in r]
    assert pages  # the catch-up followed `after` cursors


def test_429_5xx_and_spent_quota_are_waited_out(
    engine: Engine, fake: tuple[FakeReddit, str]
) -> None:
    server, host = fake
    seed(server)
    server.rate_limit_next = 1
    server.fail_next = 1
    server.remaining = 2  # the third request is told the window is spent
    source_id = make_source(engine, "reddit")
    conn = connector(server, host)
    live.run(engine, conn, source_id)
    assert len(stored(engine)) == 4
    assert conn.gate.waits and conn.gate.waits[0] == pytest.approx(1.0, abs=0.3)
    codes = [r for r in server.requests if r.startswith("GET /r/acmeair/new")]
    assert len(codes) >= 3  # 429, 503, then the answer


def test_token_refresh_and_a_revoked_token(fake: tuple[FakeReddit, str]) -> None:
    server, host = fake
    root = server.submit("acmeair", "hello")
    conn = connector(server, host, username=None, password=None, refresh_token="177-refresh")

    async def go() -> None:
        try:
            await conn.like(name(root))
            server.revoke_tokens = True
            await conn.like(name(root))
        finally:
            await conn.aclose()

    asyncio.run(go())
    assert server.token_grants == ["refresh_token", "refresh_token"]
    assert server.votes[name(root)] == 1

    bad = connector(server, host, password="wrong")

    async def fail() -> None:
        try:
            await bad.like(name(root))
        finally:
            await bad.aclose()

    with pytest.raises(AuthError, match="invalid_grant"):
        asyncio.run(fail())


def test_search_within_subreddits(engine: Engine, fake: tuple[FakeReddit, str]) -> None:
    server, host = fake
    hit = server.submit("travel", "AcmeAir lost my bag")
    server.submit("travel", "Nice beach")
    server.submit("food", "acmeair meal was cold")  # another subreddit: not searched
    source_id = make_source(engine, "reddit")
    conn = connector(server, host, subreddits=[], query="acmeair", search_in=["travel"])
    live.run(engine, conn, source_id)
    assert set(stored(engine)) == {name(hit)}
    assert any("/r/travel/search?" in r and "restrict_sr=1" in r for r in server.requests)


def test_reply_lands_threaded_like_is_an_upvote(fake: tuple[FakeReddit, str]) -> None:
    server, host = fake
    t = seed(server)
    conn = connector(server, host)
    server.rate_limit_next = 1

    async def act() -> Any:
        try:
            sent = await conn.reply(name(t["nested"]), "We are on it, check your DMs.")
            top = await conn.reply(name(t["root"]), "Sorry about your bag.")
            await conn.like(name(t["nested"]))
            await conn.direct_message("third", "Your file number?")
            with pytest.raises(NotSupported):
                await conn.repost(name(t["root"]))
            return sent, top
        finally:
            await conn.aclose()

    sent, top = asyncio.run(act())
    new = server.things[sent.external_id]["data"]
    assert new["parent_id"] == name(t["nested"])
    assert new["link_id"] == name(t["root"])
    assert new["author"] == server.username
    assert server.things[top.external_id]["data"]["parent_id"] == name(t["root"])
    assert server.votes == {name(t["nested"]): 1}
    assert server.messages[0]["to"] == "third"
    # Our own answer, heard back, is marked as the brand's.
    assert parse_thing(server.things[sent.external_id], server.username).author_is_brand


@pytest.mark.parametrize(
    "case",
    [
        "data_not_object",
        "body_not_text",
        "lone_surrogate",
        "edited_overflow",
        "edited_infinite",
        "garbled_name",
    ],
)
def test_malformed_things_are_dead_lettered_and_listening_goes_on(
    engine: Engine, fake: tuple[FakeReddit, str], case: str
) -> None:
    """Each case crashed the connector (or, for the name, lost every later comment)."""
    server, host = fake
    root = server.submit("acmeair", "Lost my bag on flight 212")
    bad = server.comment(root, "where is it?")
    after = server.comment(root, "same here")
    data = bad["data"]
    if case == "data_not_object":
        server.broken.append({"kind": "t1", "data": None})
    elif case == "body_not_text":
        data["body"] = ["where", "is", "it?"]
    elif case == "lone_surrogate":
        data["body"] = "where is it? \ud83d"  # an emoji cut in half
    elif case == "edited_overflow":
        data["edited"] = 10**400  # no JSON library of ours writes it back: dead-lettered
    elif case == "edited_infinite":
        data["edited"] = float("inf")  # kept in the cursor's watch list, read on restart
    else:
        data["name"] = "t1_" + "z" * 20  # once taken for the newest id: nothing after it
    source_id = make_source(engine, "reddit")
    live.run(engine, connector(server, host), source_id)
    late = server.comment(root, "any news?")
    live.run(engine, connector(server, host), source_id)
    posts = stored(engine)
    assert {name(root), name(after), name(late)} <= set(posts)
    with transaction(engine) as session:
        reasons = [d.reason for d in session.scalars(select(DeadLetter))]
    if case == "edited_infinite":
        assert name(bad) in posts and not reasons
    else:
        assert name(bad) not in posts or case == "data_not_object"
        assert reasons and all(reasons)


def test_an_answer_that_is_not_a_listing_is_dead_lettered_and_read_again(
    engine: Engine, fake: tuple[FakeReddit, str]
) -> None:
    server, host = fake
    root = server.submit("acmeair", "Lost my bag on flight 212")
    source_id = make_source(engine, "reddit")
    live.run(engine, connector(server, host), source_id)
    later = [server.submit("acmeair", "Still no bag"), server.comment(root, "same here")]
    server.answers.append({})  # the next /new: a 200 that is no listing; it was fatal
    live.run(engine, connector(server, host), source_id)
    assert {name(t) for t in later} <= set(stored(engine))  # the next poll read it again
    with transaction(engine) as session:
        reasons = [d.reason for d in session.scalars(select(DeadLetter))]
    assert reasons == ["/r/acmeair/new: not a Listing"]
