"""Mastodon against a fake server: streaming over WebSocket and SSE, REST catch-up, acts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select

from earful.connectors.base import Backoff, Sent
from earful.connectors.mastodon import Mastodon
from earful.db import transaction
from earful.models import Post
from earful.sources import live
from tests.protocol.conftest import (
    assert_redacted,
    assert_relabelled,
    found_by_search,
    make_source,
)
from tests.protocol.fake_mastodon import HOST, FakeMastodon
from tests.protocol.server import serve


@pytest.fixture
def fake() -> Iterator[tuple[FakeMastodon, str]]:
    server = FakeMastodon()
    with serve(server.app()) as host:
        yield server, host


def connector(server: FakeMastodon, host: str, **kw: object) -> Mastodon:
    conn = Mastodon(
        base_url=f"http://{host}",
        access_token=server.token,
        tag="acmeair",
        idle_timeout=0.7,
        batch_wait_s=0.05,
        max_failures=5,
        **kw,  # type: ignore[arg-type]
    )
    conn.backoff = Backoff(base=0.01, cap=0.05)
    return conn


def stored(engine: Engine) -> dict[str, Post]:
    with transaction(engine) as session:
        return {p.external_id.rsplit("/", 1)[1]: p for p in session.scalars(select(Post))}


def script_ids(server: FakeMastodon) -> tuple[str, str, str, str]:
    (_, root), (_, reply), (_, quote), (_, boost) = server.script[:4]
    return root["id"], reply["id"], quote["id"], boost["id"]


@pytest.mark.parametrize("transport", ["websocket", "sse"])
def test_stream_with_replies_quotes_boosts_edits_deletions(
    engine: Engine, fake: tuple[FakeMastodon, str], transport: str
) -> None:
    server, host = fake
    root, reply, quote, boost = script_ids(server)
    source_id = make_source(engine, "mastodon")
    summary = live.run(engine, connector(server, host, transport=transport), source_id)
    posts = stored(engine)
    assert len(posts) == 8
    assert posts[reply].reply_to_external_id == f"{host}/{root}"
    assert posts[quote].quote_of_external_id == f"{host}/{root}"
    assert posts[boost].repost_of_external_id == f"{host}/{root}"
    assert posts[quote].deleted_at is not None
    assert "(AMS)" in posts[root].text and posts[root].edited_at is not None
    assert "please help & call me" not in posts[root].text  # the edit replaced it
    assert summary.skipped == 1  # filters_changed
    # The delete event redacts the quote (out of search too); the edit is labelled again.
    assert_redacted(engine, "mastodon", f"{host}/{quote}")
    assert found_by_search(engine, "look at this") == 0
    assert found_by_search(engine, "AMS") == 1
    assert_relabelled(engine, "mastodon", f"{host}/{root}")


def test_root_text_is_plain(engine: Engine, fake: tuple[FakeMastodon, str]) -> None:
    server, host = fake
    server.script = server.script[:1]
    source_id = make_source(engine, "mastodon")
    live.run(engine, connector(server, host), source_id)
    (post,) = stored(engine).values()
    assert post.text == "Lost my bag on flight 212 \n#acmeair please help & call me"


@pytest.mark.parametrize("transport", ["websocket", "sse"])
def test_drop_and_outage_are_caught_up_over_rest_without_gap_or_duplicate(
    engine: Engine, fake: tuple[FakeMastodon, str], transport: str
) -> None:
    server, host = fake
    server.drop_after = [2]  # the connection dies after two events ...
    server.outage = 3  # ... and three more happen while we are away
    server.rate_limit_next = 0
    source_id = make_source(engine, "mastodon")
    conn = connector(server, host, transport=transport)
    summary = live.run(engine, conn, source_id)
    assert conn.reconnects == 1
    assert len(server.connections) == 2
    posts = stored(engine)
    # Everything that still exists arrived once; the quote was deleted during the outage,
    # so it was never heard (the REST timeline no longer has it).
    _, _, quote, _ = script_ids(server)
    assert quote not in posts
    assert len(posts) == 7
    assert summary.duplicates == 0 or summary.ingested == 7
    assert any("min_id" not in r and "/timelines/tag/acmeair" in r for r in server.requests)

    # A restart catches up from the stored cursor and stores nothing twice.
    again = live.run(engine, connector(server, host, transport=transport), source_id)
    assert again.ingested == 0
    assert len(stored(engine)) == 7


def test_429_and_503_during_catch_up_are_waited_out(
    engine: Engine, fake: tuple[FakeMastodon, str]
) -> None:
    server, host = fake
    server.drop_after = [1]
    server.outage = 2
    source_id = make_source(engine, "mastodon")
    live.run(engine, connector(server, host), source_id)
    before = len(stored(engine))
    server.rate_limit_next = 1  # X-RateLimit-Reset one second ahead
    server.fail_next = 1
    server.script.append(("update", server.script[-1][1] | {"id": "113600000000000001"}))
    live.run(engine, connector(server, host), source_id)
    assert len(stored(engine)) >= before
    assert any(r.startswith("GET /api/v1/timelines/tag") for r in server.requests)


def test_reply_favourite_boost_and_direct(fake: tuple[FakeMastodon, str]) -> None:
    server, host = fake
    for event, payload in server.script:
        server._happen(event, payload)
    root, reply, _, _ = script_ids(server)
    conn = connector(server, host)
    server.rate_limit_next = 1

    async def act() -> tuple[Sent, Sent, Sent, Sent, Sent]:
        try:
            first = await conn.reply(f"{HOST}/{reply}".replace(HOST, host), "We are on it.", "k-1")
            again = await conn.reply(f"{host}/{reply}", "We are on it.", "k-1")
            fav = await conn.like(f"{host}/{root}")
            boost = await conn.repost(f"{host}/{root}")
            dm = await conn.direct_message("other@mastodon.example", "Your file number?")
            return first, again, fav, boost, dm
        finally:
            await conn.client().aclose()

    first, again, _fav, boost, dm = asyncio.run(act())
    assert first == again  # the Idempotency-Key made the retry a no-op
    new = server.statuses[first.external_id.rsplit("/", 1)[1]]  # type: ignore[union-attr]
    assert new["in_reply_to_id"] == reply
    assert new["content"].startswith("<p>@other@mastodon.example We are on it.")
    assert root in server.favourites
    assert server.statuses[boost.external_id.rsplit("/", 1)[1]]["reblog"]["id"] == root  # type: ignore[union-attr]
    assert server.statuses[dm.external_id.rsplit("/", 1)[1]]["visibility"] == "direct"  # type: ignore[union-attr]
