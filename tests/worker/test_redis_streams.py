"""Scale-out workers on a Redis Stream and a real database: nothing lost, nothing doubled."""

from __future__ import annotations

import gc
import threading
import time
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine, func, select

from earful.connectors.base import Batch
from earful.connectors.bluesky import Bluesky
from earful.connectors.replay import FileReplay
from earful.db import make_engine
from earful.demo.generate import write
from earful.migrate import upgrade
from earful.models import Alert, Brand, DeadLetter, Post
from earful.pipeline.runner import Pipeline
from earful.pipeline.schema import Rejected
from earful.worker import metrics
from earful.worker.redis_streams import (
    Publisher,
    StreamConfig,
    Worker,
    client_name,
    decode_batch,
    encode_batch,
    ensure_group,
    trim,
)
from tests.pipeline.helpers import canonical
from tests.pipeline.test_runner import demo_brands
from tests.protocol.conftest import assert_redacted, assert_relabelled, make_source
from tests.protocol.fake_bluesky import FakeBluesky
from tests.protocol.server import serve
from tests.protocol.test_bluesky import QUOTE, ROOT
from tests.worker.helpers import WORKER_REDIS_URL, stream_keys

pytestmark = [pytest.mark.redis]


@pytest.fixture
def client(redis_client: redis.Redis) -> redis.Redis:  # redis_client: CI makes Redis mandatory
    c = redis.Redis.from_url(WORKER_REDIS_URL)
    yield c
    c.close()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.jsonl"
    write(path, seed=3, posts=1500)
    return path


def reference(tmp_path: Path, corpus: Path, batch_size: int) -> dict[str, object]:
    clean = make_engine(f"sqlite:///{tmp_path / 'clean.db'}")
    upgrade(clean)
    demo_brands(clean)
    Pipeline(clean).ingest(FileReplay(corpus, "jsonl", batch_size=batch_size))
    out = canonical(clean)
    clean.dispose()
    return out


def drain_with_workers(
    engine: Engine, client: redis.Redis, cfg: StreamConfig, n: int, timeout: float
) -> list[Worker]:
    """``n`` workers in threads, each running until the stream is idle."""
    workers = [Worker(engine, client, cfg, f"w{i}") for i in range(n)]
    threads = [threading.Thread(target=w.run, kwargs={"until_idle": True}) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    return workers


def test_a_batch_survives_the_stream_unchanged(corpus: Path) -> None:
    batch = next(FileReplay(corpus, "jsonl", batch_size=300).read(None))
    batch.rejected.append(Rejected("line 9", "bad", b"\xff\xfenot utf-8"))
    again = decode_batch(encode_batch(batch))
    assert again.posts == batch.posts
    assert again.rejected == batch.rejected
    assert again.cursor == batch.cursor


def test_two_workers_store_what_one_process_stores(
    engine: Engine, client: redis.Redis, corpus: Path, tmp_path: Path
) -> None:
    demo_brands(engine)
    with stream_keys(client) as stream:
        cfg = StreamConfig(stream=stream, claim_idle_ms=500, block_ms=50)
        connector = FileReplay(corpus, "jsonl", batch_size=100)
        pub = Publisher(client, cfg, connector.source_name, connector.name)
        pub.run(connector)
        workers = drain_with_workers(engine, client, cfg, 2, timeout=60)
        assert sum(w.stats.batches for w in workers) == pub.seq > 10
        # Consecutive small batches shared transactions, and it changed nothing.
        assert sum(w.stats.transactions for w in workers) < pub.seq
        expected = reference(tmp_path, corpus, 100)
        assert canonical(engine) == expected
        text = metrics.render(client, stream, cfg.group, engine)
        assert "earful_ingest_posts_total" in text
        assert "earful_queue_pending 0" in text
        # Publishing the file again from the start doubles nothing.
        Publisher(client, cfg, connector.source_name, connector.name).run(
            connector, from_start=True
        )
        Worker(engine, client, cfg, "w3").run(until_idle=True)
        assert canonical(engine) == expected


def spike_alerts(engine: Engine) -> list[tuple[str, str, object]]:
    with engine.connect() as conn:
        return sorted(
            conn.execute(
                select(Brand.slug, Alert.kind, Alert.window_start).join(
                    Brand, Brand.id == Alert.brand_id
                )
            ).all()
        )


def test_workers_judge_spikes_after_their_commit_once(
    engine: Engine, client: redis.Redis, tmp_path: Path
) -> None:
    """Spike detection runs after each stored batch, outside the ingest lock, and still
    raises each alert exactly once and the same as one process does."""
    demo_brands(engine)
    corpus = tmp_path / "outage.jsonl"
    write(corpus, seed=3, posts=4000)  # the demo's outage: one negative spike
    with stream_keys(client) as stream:
        cfg = StreamConfig(stream=stream, claim_idle_ms=500, block_ms=50, merge_posts=200)
        connector = FileReplay(corpus, "jsonl", batch_size=100)
        Publisher(client, cfg, connector.source_name, connector.name).run(connector)
        drain_with_workers(engine, client, cfg, 2, timeout=120)
    clean = make_engine(f"sqlite:///{tmp_path / 'clean.db'}")
    upgrade(clean)
    demo_brands(clean)
    Pipeline(clean).ingest(FileReplay(corpus, "jsonl", batch_size=100))
    expected = spike_alerts(clean)
    clean.dispose()
    assert len(expected) == 1
    assert spike_alerts(engine) == expected


def test_a_dead_workers_entry_is_claimed_and_a_poison_entry_dead_lettered(
    engine: Engine, client: redis.Redis, corpus: Path
) -> None:
    demo_brands(engine)
    with stream_keys(client) as stream:
        cfg = StreamConfig(stream=stream, claim_idle_ms=200, block_ms=50, max_deliveries=2)
        ensure_group(client, cfg)
        connector = FileReplay(corpus, "jsonl", batch_size=500)
        batches = list(connector.read(None))
        pub = Publisher(client, cfg, connector.source_name, connector.name)
        pub.publish(batches[0])
        # A worker reads the first entry and dies before storing it.
        client.xreadgroup(cfg.group, "dead", {stream: ">"}, count=1)
        # The second entry cannot be decoded: it fails every delivery.
        seq = pub.seq + 1
        client.xadd(stream, {"seq": seq, "source": pub.source, "kind": "replay", "batch": b"{"})
        pub.seq = seq
        pub.publish(batches[1])
        survivor = Worker(engine, client, cfg, "alive")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            survivor.run(until_idle=True, idle_s=0.5)
            if not client.xpending(stream, cfg.group)["pending"] and client.xlen(cfg.dead_stream):
                break
        assert survivor.stats.claimed >= 1
        assert survivor.stats.dead_lettered == 1
        assert client.xlen(cfg.dead_stream) == 1
        with engine.connect() as conn:
            dead = conn.execute(select(DeadLetter.position, DeadLetter.raw)).all()
            stored = conn.scalar(select(func.count(Post.id)))
        assert (f"stream seq {seq}", b"{") in [tuple(d) for d in dead]
        assert stored and stored > 500  # the batches before and after the poison one


def test_an_entry_waiting_for_its_turn_is_not_dead_lettered_by_its_own_worker(
    engine: Engine, client: redis.Redis, corpus: Path
) -> None:
    """A worker holds batch 2 while batch 1 is still with a worker that is alive for two
    seconds and then dies. Batch 2 idles meanwhile; its own worker must not claim it back
    from itself, counting a delivery each time, until a good batch is dead-lettered."""
    demo_brands(engine)
    with stream_keys(client) as stream:
        cfg = StreamConfig(stream=stream, claim_idle_ms=100, block_ms=50, max_deliveries=2)
        ensure_group(client, cfg)
        first, second = list(FileReplay(corpus, "jsonl", batch_size=500).read(None))[:2]
        pub = Publisher(client, cfg, "replay", "corpus")
        pub.publish(first)
        client.xreadgroup(cfg.group, "other", {stream: ">"}, count=1)
        pub.publish(second)

        def other_worker_alive_for_two_seconds() -> None:
            (entry,) = client.xpending_range(stream, cfg.group, "-", "+", 10, consumername="other")
            until = time.monotonic() + 2.0
            while time.monotonic() < until:  # its heartbeat, then it dies
                client.xclaim(stream, cfg.group, "other", 0, [entry["message_id"]], justid=True)
                time.sleep(0.02)

        worker = Worker(engine, client, cfg, "waiting")
        worker.warm_up()  # loading the models takes longer than the other worker lives
        other = threading.Thread(target=other_worker_alive_for_two_seconds)
        other.start()
        worker.run(until_idle=True, idle_s=2.0)
        other.join()
        assert worker.stats.early >= 1  # batch 2 did wait for batch 1
        assert worker.stats.dead_lettered == 0
        assert client.xlen(cfg.dead_stream) == 0
        assert not client.xpending(stream, cfg.group)["pending"]
    with engine.connect() as conn:
        stored = conn.scalar(select(func.count(Post.id)))
    assert stored == worker.stats.posts > 0


def test_a_killed_workers_entries_are_claimed_without_waiting_for_them_to_idle(
    engine: Engine, client: redis.Redis, corpus: Path
) -> None:
    demo_brands(engine)
    with stream_keys(client) as stream:
        # XAUTOCLAIM would leave an entry alone for a minute.
        cfg = StreamConfig(stream=stream, claim_idle_ms=60_000, block_ms=50, dead_after_ms=100)
        ensure_group(client, cfg)
        connector = FileReplay(corpus, "jsonl", batch_size=500)
        batches = list(connector.read(None))
        pub = Publisher(client, cfg, connector.source_name, connector.name)

        def named(consumer: str) -> redis.Redis:
            c = redis.Redis.from_url(WORKER_REDIS_URL, client_name=client_name(consumer))
            c.hset(cfg.named_key, consumer, 1)  # as Worker.run registers
            return c

        pub.publish(batches[0])
        pub.publish(batches[1])
        # A worker that names its connections takes the first batch; its process dies.
        dead = named("dead")
        dead.xreadgroup(cfg.group, "dead", {stream: ">"}, count=1)
        dead.close()
        c = named("alive")
        try:
            alive = Worker(engine, c, cfg, "alive")
            alive.run(until_idle=True, idle_s=0.5)
            assert alive.stats.claimed == 1
            assert alive.stats.batches == 2
            assert client.xpending(stream, cfg.group)["pending"] == 0
            # One that is still connected is only slow: its entry is left to it.
            pub.publish(batches[2])
            slow = named("slow")
            entry = slow.xreadgroup(cfg.group, "slow", {stream: ">"}, count=1)[0][1][0][0]
            alive.run(until_idle=True, idle_s=0.5)
            assert alive.stats.claimed == 1
            pending = client.xpending_range(stream, cfg.group, "-", "+", 10)
            assert [(p["message_id"], p["consumer"]) for p in pending] == [(entry, b"slow")]
            slow.close()
        finally:
            c.close()
        with engine.connect() as conn:
            stored = conn.scalar(select(func.count(Post.id)))
        assert stored == alive.stats.posts > 500  # both batches, the claimed one included


def test_trimming_keeps_every_unacknowledged_entry(client: redis.Redis) -> None:
    with stream_keys(client) as stream:
        cfg = StreamConfig(stream=stream)
        ensure_group(client, cfg)
        ids = [client.xadd(stream, {"n": i}) for i in range(10)]
        client.xreadgroup(cfg.group, "a", {stream: ">"}, count=6)
        client.xack(stream, cfg.group, *ids[:2], *ids[3:6])  # entry 2 stays pending
        trim(client, cfg)
        kept = [r[0] for r in client.xrange(stream)]
        assert kept == ids[2:]
        client.xack(stream, cfg.group, ids[2])
        trim(client, cfg)
        assert [r[0] for r in client.xrange(stream)] == ids[5:]  # last delivered kept


def test_the_publisher_waits_when_the_workers_fall_behind(client: redis.Redis) -> None:
    with stream_keys(client) as stream:
        cfg = StreamConfig(stream=stream, max_pending=3)
        ensure_group(client, cfg)
        pub = Publisher(client, cfg, "src", "replay")
        for _ in range(3):
            pub.wait_for_room(timeout=0.1)
            pub.publish(Batch(posts=[]))
        with pytest.raises(TimeoutError):
            pub.wait_for_room(timeout=0.2)
        got = client.xreadgroup(cfg.group, "a", {stream: ">"}, count=1)
        client.xack(stream, cfg.group, got[0][1][0][0])
        pub.wait_for_room(timeout=1)  # room again


def test_a_warmed_up_worker_keeps_its_models_out_of_every_garbage_collection(
    tmp_path: Path, client: redis.Redis
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'frozen.db'}")
    upgrade(engine)
    worker = Worker(engine, client, StreamConfig(stream="frozen"), "frozen")
    try:
        worker.warm_up()
        # frozen: in the permanent generation, which no collection walks
        assert gc.get_freeze_count() > 0
        assert not any(o is worker.classifier for o in gc.get_objects())
    finally:
        gc.unfreeze()
        engine.dispose()


def test_network_edits_and_deletions_travel_through_the_stream(
    engine: Engine, client: redis.Redis
) -> None:
    """Jetstream → publisher → worker: the edit relabels, the delete redacts the post."""
    server = FakeBluesky()
    with serve(server.app()) as host, stream_keys(client) as stream:
        make_source(engine, "bluesky")
        jetstream = Bluesky(
            jetstream_url=f"ws://{host}/subscribe",
            pds_url=f"http://{host}",
            identifier="acme.bsky.social",
            password="abcd-efgh-ijkl-mnop",
            idle_timeout=0.5,
            batch_wait_s=0.05,
        )
        cfg = StreamConfig(stream=stream, claim_idle_ms=500, block_ms=50)
        Publisher(client, cfg, jetstream.source_name, jetstream.name, "acme").run(jetstream)
        drain_with_workers(engine, client, cfg, 1, timeout=60)
    assert_redacted(engine, "bluesky", QUOTE)
    assert_relabelled(engine, "bluesky", ROOT)
