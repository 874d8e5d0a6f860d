"""Bluesky against a fake Jetstream + PDS over real WebSocket/HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import orjson
import pytest
from sqlalchemy import Engine, select

from earful.connectors.base import Backoff, ConnectorError, Sent
from earful.connectors.bluesky import Bluesky
from earful.db import transaction
from earful.models import DeadLetter, Post, Source
from earful.sources import live
from earful.sources.service import get_source, run_source
from tests.protocol.conftest import (
    SECRET,
    assert_redacted,
    assert_relabelled,
    found_by_search,
    make_source,
)
from tests.protocol.fake_bluesky import FakeBluesky, sample_events
from tests.protocol.server import serve

ROOT = "at://did:plc:eygmaihciaxprqvxpfvl6flk/app.bsky.feed.post/3lbnqa2ml2k2a"
REPLY = "at://did:plc:ragtjsm2j2vknwkz3zp4oxrd/app.bsky.feed.post/3lbnqa2npqc2c"
QUOTE = "at://did:plc:l3rouwludahu3ui3bt66mfvj/app.bsky.feed.post/3lbnqa2o6bz2d"
MEDIA_QUOTE = "at://did:plc:5hyhbvmwulowvsibwtssfrvy/app.bsky.feed.post/3lbnqa2pbkm2f"
REPOST = "at://did:plc:q6gjnaw2blty4crticxkmujt/app.bsky.feed.repost/3lbnqa2otvs2e"
LAST_US = 1732370000000012


@pytest.fixture
def fake() -> Iterator[tuple[FakeBluesky, str]]:
    fake = FakeBluesky()
    with serve(fake.app()) as host:
        yield fake, host


def connector(host: str, **kw: object) -> Bluesky:
    conn = Bluesky(
        jetstream_url=f"ws://{host}/subscribe",
        pds_url=f"http://{host}",
        identifier="acme.bsky.social",
        password="abcd-efgh-ijkl-mnop",
        idle_timeout=0.5,
        batch_wait_s=0.05,
        max_failures=5,
        **kw,  # type: ignore[arg-type]
    )
    conn.backoff = Backoff(base=0.01, cap=0.05)
    return conn


def posts(engine: Engine) -> dict[str, Post]:
    with transaction(engine) as session:
        return {p.external_id: p for p in session.scalars(select(Post))}


def test_ingests_replies_quotes_reposts_edits_and_deletions(
    engine: Engine, fake: tuple[FakeBluesky, str]
) -> None:
    server, host = fake
    source_id = make_source(engine, "bluesky")
    summary = live.run(engine, connector(host), source_id)

    stored = posts(engine)
    # Likes are filtered by the server (wantedCollections); identity/account are skipped.
    assert server.connections[0]["wanted"] == ["app.bsky.feed.post", "app.bsky.feed.repost"]
    assert summary.skipped == 2
    assert stored[REPLY].reply_to_external_id == ROOT
    assert stored[QUOTE].quote_of_external_id == ROOT
    assert stored[MEDIA_QUOTE].quote_of_external_id == ROOT
    assert stored[REPOST].repost_of_external_id == ROOT
    # The edit replaced the text; the delete marked the post.
    assert "(AMS)" in stored[ROOT].text and stored[ROOT].edited_at is not None
    assert stored[QUOTE].deleted_at is not None
    assert stored[ROOT].deleted_at is None
    assert len(stored) == 7
    with transaction(engine) as session:
        source = get_source(session, source_id)
        assert source.cursor == str(LAST_US)
        assert source.status == "idle"
    assert summary.edited == 1 and summary.deleted == 1


def test_deleted_post_is_redacted_out_of_search_and_never_replayed(
    engine: Engine, fake: tuple[FakeBluesky, str]
) -> None:
    _, host = fake
    source_id = make_source(engine, "bluesky")
    live.run(engine, connector(host), source_id)
    assert_redacted(engine, "bluesky", QUOTE)
    assert found_by_search(engine, "really needs to fix") == 0  # the deleted quote's words
    assert found_by_search(engine, "AMS") == 1  # the edit's words are indexed
    assert_relabelled(engine, "bluesky", ROOT)

    # Replaying the stream from its start hears the quote's creation again: not stored.
    with transaction(engine) as session:
        get_source(session, source_id).cursor = None
    again = live.run(engine, connector(host), source_id)
    assert again.erased == 1
    assert_redacted(engine, "bluesky", QUOTE)
    assert found_by_search(engine, "really needs to fix") == 0


def test_drop_mid_stream_resumes_from_cursor_without_gap_or_duplicate(
    engine: Engine, fake: tuple[FakeBluesky, str]
) -> None:
    server, host = fake
    server.drop_after = [3, 4]  # two abrupt drops, then a healthy connection
    source_id = make_source(engine, "bluesky")
    conn = connector(host, batch_size=1)
    summary = live.run(engine, conn, source_id)

    assert conn.reconnects == 2
    assert len(server.connections) == 3
    # Each reconnection asked for the last stored time_us, rewound by rewind_us.
    assert server.connections[0]["cursor"] is None
    assert server.connections[1]["cursor"] is not None
    assert server.connections[1]["cursor"] <= 1732370000000003 - conn.rewind_us + 1
    stored = posts(engine)
    assert len(stored) == 7  # no gap ...
    assert summary.ingested == 7  # ... the edit of a stored post is not a new post
    assert summary.duplicates > 0  # the rewound overlap was recognised, not stored twice

    # A restart from the stored cursor stores nothing new.
    again = live.run(engine, connector(host), source_id)
    assert again.ingested == 0
    assert len(posts(engine)) == 7


def test_zstd_frames_with_a_dictionary(engine: Engine) -> None:
    zstandard = pytest.importorskip("zstandard")
    events = sample_events()
    zdict = zstandard.train_dictionary(1024, events * 20).as_bytes()
    server = FakeBluesky(zstd_dict=zdict)
    with serve(server.app()) as host:
        source_id = make_source(engine, "bluesky")
        live.run(engine, connector(host, compress=True, zstd_dictionary=zdict), source_id)
    assert server.connections[0]["zstd"] is True
    assert len(posts(engine)) == 7


def test_malformed_frames_are_dead_lettered_and_the_stream_goes_on(engine: Engine) -> None:
    events = sample_events()
    bad = [b"{not json", b'{"did":"did:plc:x","kind":"commit"}', b'"just a string"']
    server = FakeBluesky(events=[*events[:2], *bad, *events[2:]])
    with serve(server.app()) as host:
        source_id = make_source(engine, "bluesky")
        live.run(engine, connector(host), source_id)
    assert len(posts(engine)) == 7
    with transaction(engine) as session:
        reasons = [d.reason for d in session.scalars(select(DeadLetter))]
    assert len(reasons) == 3
    assert any("invalid JSON" in r for r in reasons)
    assert any("time_us" in r for r in reasons)


def test_backfill_by_search_before_the_stream(
    engine: Engine, fake: tuple[FakeBluesky, str]
) -> None:
    server, host = fake
    source_id = make_source(engine, "bluesky")
    live.run(engine, connector(host, query="acmeair"), source_id)
    stored = posts(engine)
    backfilled = "at://did:plc:3jpt2mvvsumj2r7eqk4gzzjz/app.bsky.feed.post/3lbnp7xq5vs2w"
    assert stored[backfilled].text == "acmeair check-in app crashes again"
    # The stream started where the backfill began, so the sample's older events are not
    # replayed: the backfill covers that history.
    assert server.connections[0]["cursor"] is not None


def test_unreachable_stream_fails_with_a_reason(engine: Engine) -> None:
    source_id = make_source(engine, "bluesky")
    conn = Bluesky(jetstream_url="ws://127.0.0.1:9/subscribe", max_failures=2)
    conn.backoff = Backoff(base=0.01, cap=0.02)
    with pytest.raises(ConnectorError, match="gave up after 2"):
        live.run(engine, conn, source_id)
    with transaction(engine) as session:
        source = session.get(Source, source_id)
        assert source is not None
        assert source.status == "failing"
        assert "cannot connect" in (source.status_reason or "")


def test_reply_is_threaded_with_root_and_parent_strong_refs(fake: tuple[FakeBluesky, str]) -> None:
    server, host = fake
    conn = connector(host)
    server.expire_next = 1  # the first authed call meets an expired token: refresh, retry
    server.rate_limit_next = 1  # and a 429 with ratelimit-reset before that

    async def act() -> tuple[Sent, Sent, Sent]:
        reply = await conn.reply(REPLY, "We are on it: DM us your file reference.")
        return reply, await conn.like(ROOT), await conn.repost(ROOT)

    sent, like, repost = asyncio.run(act())
    assert sent.external_id is not None and sent.external_id.startswith("at://")
    record = server.records[sent.external_id]["value"]
    assert record["reply"]["parent"] == {"uri": REPLY, "cid": server.records[REPLY]["cid"]}
    assert record["reply"]["root"] == {"uri": ROOT, "cid": server.records[ROOT]["cid"]}
    assert "com.atproto.server.refreshSession" in server.calls
    assert like.external_id and "/app.bsky.feed.like/" in like.external_id
    assert repost.external_id and "/app.bsky.feed.repost/" in repost.external_id
    assert server.records[like.external_id]["value"]["subject"]["uri"] == ROOT


def test_5xx_on_act_is_retried(fake: tuple[FakeBluesky, str]) -> None:
    server, host = fake
    server.fail_next = 2
    sent = asyncio.run(connector(host).reply(ROOT, "Sorry to hear that."))
    assert sent.external_id in server.records
    assert server.records[sent.external_id]["value"]["reply"]["root"]["uri"] == ROOT


def test_run_source_builds_from_sealed_credentials(
    engine: Engine, fake: tuple[FakeBluesky, str]
) -> None:
    _, host = fake
    source_id = make_source(
        engine,
        "bluesky",
        {
            "jetstream_url": f"ws://{host}/subscribe",
            "pds_url": f"http://{host}",
            "identifier": "acme.bsky.social",
            "password": "abcd-efgh-ijkl-mnop",
        },
    )
    with transaction(engine) as session:
        config = get_source(session, source_id).config
    assert "abcd-efgh" not in orjson.dumps(config).decode()
    run_source(engine, source_id, SECRET, idle_timeout=0.5, batch_wait_s=0.05)
    assert len(posts(engine)) == 7
