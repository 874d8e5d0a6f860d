"""Scale-out ingest: connectors publish batches to a Redis Stream, workers store them.

Delivery is at-least-once: a worker acknowledges (XACK) an entry only after its database
transaction committed; an entry whose worker died stays pending and another worker claims it
(XAUTOCLAIM) once it has been idle ``claim_idle_ms``; an entry delivered more than
``max_deliveries`` times goes to the dead-letter stream (and table) instead of blocking.

Exactly-once effects come from the database: every batch carries its source's sequence
number, and a worker stores batch ``n`` of a source only when batch ``n - 1`` is stored,
inside one transaction that holds the ingest advisory lock and saves ``n`` with the posts.
A redelivered batch is then recognized and skipped, and batches are applied in publication
order, so conversations come out exactly as a single-process run makes them (threading
keeps order-dependent rules: a keyword-less reply is kept only once its parent is known).
Parsing, matching and classifying - the CPU work - run outside the lock, in parallel.
"""

from __future__ import annotations

import base64
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import FrameType
from typing import Any

import orjson
import redis
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from earful.connectors.base import Batch, Connector
from earful.db import transaction
from earful.pipeline import stages
from earful.pipeline.repository import IngestRepository
from earful.pipeline.runner import IngestSummary, Pipeline
from earful.pipeline.schema import Labels, PostIn, Rejected
from earful.worker import metrics
from earful.worker.logs import event
from earful.worker.repository import applied_seq, lock_ingest, save_seq

log = logging.getLogger("earful.worker")

REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError)
# redis-py's reply types are unions of every decoding mode; we use bytes replies.
RedisClient = Any


@dataclass(slots=True)
class StreamConfig:
    stream: str = "earful:ingest"
    group: str = "earful-workers"
    max_deliveries: int = 5
    claim_idle_ms: int = 10_000
    # Backpressure: a publisher waits while this many batches are unread or unacknowledged.
    max_pending: int = 64
    block_ms: int = 500
    trim_every_s: float = 2.0

    @property
    def dead_stream(self) -> str:
        return f"{self.stream}:dead"

    def publisher_key(self, source: str) -> str:
        return f"{self.stream}:publisher:{source}"


def ensure_group(client: RedisClient, cfg: StreamConfig) -> None:
    try:
        client.xgroup_create(cfg.stream, cfg.group, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


# ---------------------------------------------------------------- the entry format

_OPTIONAL = (
    "author_handle",
    "author_name",
    "language",
    "url",
    "reply_to",
    "quote_of",
    "repost_of",
)


def _raw(doc: dict[str, Any], raw: bytes | None) -> None:
    if raw is None:
        return
    try:
        doc["raw"] = raw.decode("utf-8")
    except UnicodeDecodeError:
        doc["raw64"] = base64.b64encode(raw).decode()


def _unraw(doc: dict[str, Any]) -> bytes | None:
    if "raw" in doc:
        return str(doc["raw"]).encode("utf-8")
    if "raw64" in doc:
        return base64.b64decode(doc["raw64"])
    return None


def _post_doc(p: PostIn) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "network": p.network,
        "id": p.external_id,
        "author": p.author_id,
        "text": p.text,
        "at": p.created_at.isoformat(),
    }
    for name in _OPTIONAL:
        value = getattr(p, name)
        if value is not None:
            doc[name] = value
    if p.author_is_brand:
        doc["brand"] = True
    _raw(doc, p.raw)
    return doc


def _post(doc: dict[str, Any]) -> PostIn:
    return PostIn(
        network=doc["network"],
        external_id=doc["id"],
        author_id=doc["author"],
        text=doc["text"],
        created_at=datetime.fromisoformat(doc["at"]),
        raw=_unraw(doc),
        author_is_brand=bool(doc.get("brand", False)),
        **{name: doc.get(name) for name in _OPTIONAL},
    )


def encode_batch(batch: Batch) -> bytes:
    rejected = []
    for r in batch.rejected:
        doc: dict[str, Any] = {"position": r.position, "reason": r.reason}
        _raw(doc, r.raw)
        rejected.append(doc)
    return orjson.dumps(
        {
            "posts": [_post_doc(p) for p in batch.posts],
            "rejected": rejected,
            "cursor": batch.cursor,
            "skipped": batch.skipped,
            "progress": batch.progress,
        }
    )


def decode_batch(data: bytes) -> Batch:
    doc = orjson.loads(data)
    return Batch(
        posts=[_post(p) for p in doc["posts"]],
        rejected=[Rejected(r["position"], r["reason"], _unraw(r) or b"") for r in doc["rejected"]],
        cursor=doc.get("cursor"),
        skipped=int(doc.get("skipped", 0)),
        progress=int(doc.get("progress", 0)),
    )


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def id_ms(entry_id: str) -> int:
    return int(entry_id.split("-", 1)[0])


# ---------------------------------------------------------------- publishing


class Publisher:
    """Puts a connector's batches on the stream, each with its source's next sequence number.

    The entry and the publisher's own position (sequence and connector cursor) are written
    in one MULTI transaction, so a restarted publisher resumes exactly after its last entry.
    One publisher per source at a time.
    """

    def __init__(
        self,
        client: RedisClient,
        cfg: StreamConfig,
        source: str,
        kind: str,
        brand: str | None = None,
    ) -> None:
        self.client = client
        self.cfg = cfg
        self.source = source
        self.kind = kind
        self.brand = brand
        self.key = cfg.publisher_key(source)
        self.waits = 0
        pos = client.hgetall(self.key)
        self.seq = int(pos.get(b"seq", 0))
        cursor = pos.get(b"cursor")
        self.cursor: str | None = cursor.decode() if cursor else None

    def depth(self) -> int:
        """Batches not yet acknowledged by the workers (unread + pending)."""
        try:
            groups = self.client.xinfo_groups(self.cfg.stream)
        except redis.ResponseError:
            return 0  # no stream yet
        for g in groups:
            if _s(g["name"]) == self.cfg.group:
                lag = g.get("lag")
                if lag is None:
                    break
                return int(lag) + int(g["pending"])
        return int(self.client.xlen(self.cfg.stream))

    def wait_for_room(self, timeout: float | None = None) -> None:
        """Block while the stream holds ``max_pending`` unfinished batches (bounded buffer)."""
        start = time.monotonic()
        pause = 0.005
        while self.depth() >= self.cfg.max_pending:
            if self.waits == 0 or pause >= 0.2:
                metrics.record(self.client, self.cfg.stream, "publisher_waits")
            self.waits += 1
            if timeout is not None and time.monotonic() - start > timeout:
                raise TimeoutError("the workers are not keeping up")
            time.sleep(pause)
            pause = min(pause * 2, 0.25)

    def publish(self, batch: Batch) -> str:
        seq = self.seq + 1
        fields: dict[str, Any] = {
            "seq": seq,
            "source": self.source,
            "kind": self.kind,
            "batch": encode_batch(batch),
        }
        if self.brand:
            fields["brand"] = self.brand
        pipe = self.client.pipeline(transaction=True)
        pipe.xadd(self.cfg.stream, fields)
        pipe.hset(self.key, mapping={"seq": seq, "cursor": batch.cursor or ""})
        pipe.hincrby(metrics.metrics_key(self.cfg.stream), "published", 1)
        entry_id, *_ = pipe.execute()
        self.seq = seq
        self.cursor = batch.cursor
        return _s(entry_id)

    def run(
        self,
        connector: Connector,
        from_start: bool = False,
        rate: float | None = None,
        on_batch: Callable[[Batch], None] | None = None,
    ) -> int:
        """Publish the connector from the stored position; ``rate`` caps posts/s. Returns posts."""
        sent = 0
        start = time.monotonic()
        for batch in connector.read(None if from_start else self.cursor):
            self.wait_for_room()
            if rate:
                ahead = sent / rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
            self.publish(batch)
            sent += len(batch.posts) + len(batch.rejected)
            if on_batch:
                on_batch(batch)
        return sent


# ---------------------------------------------------------------- working


class _PrimedMatcher:
    """The pipeline's matcher, answered from results computed before the lock was taken."""

    def __init__(self, inner: stages.Matcher) -> None:
        self.inner = inner
        self.primed: dict[tuple[str, str], frozenset[int]] = {}

    def match(self, posts: Sequence[PostIn]) -> list[frozenset[int]]:
        out = [self.primed.get((p.network, p.external_id)) for p in posts]
        missing = [i for i, hit in enumerate(out) if hit is None]
        if missing:
            for i, hit in zip(missing, self.inner.match([posts[i] for i in missing]), strict=True):
                out[i] = hit
        return [hit or frozenset() for hit in out]


class _PrimedClassifier:
    def __init__(self, inner: stages.Classifier) -> None:
        self.inner = inner
        self.version = inner.version
        self.primed: dict[str, Labels] = {}

    def classify(self, texts: Sequence[str]) -> list[Labels]:
        missing = [t for t in dict.fromkeys(texts) if t not in self.primed]
        if missing:
            self.primed.update(zip(missing, self.inner.classify(missing), strict=True))
        return [self.primed[t] for t in texts]


@dataclass(slots=True)
class Held:
    """An entry this worker owns (pending under its name)."""

    entry_id: str
    seq: int
    source: str
    kind: str
    brand: str | None
    data: bytes
    deliveries: int = 1
    batch: Batch | None = None
    classify_s: float = 0.0
    primed: bool = False
    failed: bool = False

    @classmethod
    def of(cls, entry_id: Any, fields: dict[bytes, bytes], deliveries: int = 1) -> Held:
        brand = fields.get(b"brand")
        return cls(
            entry_id=_s(entry_id),
            seq=int(fields[b"seq"]),
            source=fields[b"source"].decode(),
            kind=fields.get(b"kind", b"stream").decode(),
            brand=brand.decode() if brand else None,
            data=fields[b"batch"],
            deliveries=deliveries,
        )


@dataclass(slots=True)
class WorkerStats:
    batches: int = 0
    posts: int = 0
    duplicates: int = 0
    skipped_batches: int = 0
    claimed: int = 0
    dead_lettered: int = 0
    db_retries: int = 0
    redis_retries: int = 0
    latencies: list[float] = field(default_factory=list)


class Worker:
    """One consumer of the group. ``run`` loops until :meth:`stop` (SIGTERM) or idle."""

    def __init__(
        self,
        engine: Engine,
        client: RedisClient,
        cfg: StreamConfig | None = None,
        consumer: str | None = None,
        pipeline: Pipeline | None = None,
    ) -> None:
        self.engine = engine
        self.client = client
        self.cfg = cfg or StreamConfig()
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.pipeline = pipeline or Pipeline(engine)
        self.matcher = _PrimedMatcher(self.pipeline.matcher)
        self.classifier = _PrimedClassifier(self.pipeline.classifier)
        self.pipeline.matcher = self.matcher
        self.pipeline.classifier = self.classifier
        self.held: dict[str, Held] = {}
        self.stats = WorkerStats()
        self.stopping = False
        self._brands: dict[str, int] = {}
        self._last_claim = 0.0
        self._last_beat = time.monotonic()
        self._last_trim = 0.0

    # ------------------------------------------------------------ lifecycle

    def stop(self, *_: object) -> None:
        self.stopping = True

    def install_signals(self) -> None:
        def handler(_signum: int, _frame: FrameType | None) -> None:
            self.stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def run(self, until_idle: bool = False, idle_s: float = 1.0) -> WorkerStats:
        """Work until stopped; ``until_idle``: also return once nothing came for ``idle_s``."""
        pause = 0.1
        self._redis(lambda: ensure_group(self.client, self.cfg))
        event(log, "worker started", consumer=self.consumer, stream=self.cfg.stream)
        quiet_since = time.monotonic()
        while not self.stopping:
            try:
                busy = self._step()
                pause = 0.1
            except REDIS_ERRORS as exc:
                self.stats.redis_retries += 1
                event(log, "redis unavailable", logging.WARNING, error=type(exc).__name__)
                time.sleep(pause)
                pause = min(pause * 2, 5.0)
                continue
            if busy:
                quiet_since = time.monotonic()
            elif until_idle and time.monotonic() - quiet_since > idle_s:
                break
        self._release()
        event(
            log,
            "worker stopped",
            consumer=self.consumer,
            batches=self.stats.batches,
            posts=self.stats.posts,
        )
        return self.stats

    def _redis(self, call: Callable[[], Any]) -> Any:
        pause = 0.1
        while True:
            try:
                return call()
            except REDIS_ERRORS:
                if self.stopping:
                    raise
                self.stats.redis_retries += 1
                time.sleep(pause)
                pause = min(pause * 2, 5.0)

    def _release(self) -> None:
        """On shutdown, hand entries not stored back at once (idle so others claim them)."""
        try:
            if self.held:
                self.client.xclaim(
                    self.cfg.stream,
                    self.cfg.group,
                    "released",
                    0,
                    list(self.held),
                    idle=10 * self.cfg.claim_idle_ms,
                    justid=True,
                )
            self.held.clear()
            self.client.xgroup_delconsumer(self.cfg.stream, self.cfg.group, self.consumer)
        except redis.RedisError as exc:
            event(log, "release failed", logging.WARNING, error=type(exc).__name__)

    # ------------------------------------------------------------ one step

    def _step(self) -> bool:
        now = time.monotonic()
        busy = False
        if now - self._last_claim > self.cfg.claim_idle_ms / 4000:
            self._last_claim = now
            busy |= self._claim()
        if now - self._last_beat > self.cfg.claim_idle_ms / 4000:
            self._heartbeat()
        if now - self._last_trim > self.cfg.trim_every_s:
            self._last_trim = now
            trim(self.client, self.cfg)
        if not self.held and not self.stopping:
            busy |= self._read()
        if self.held:
            busy |= self._work()
        return busy

    def _read(self) -> bool:
        got = self.client.xreadgroup(
            self.cfg.group,
            self.consumer,
            {self.cfg.stream: ">"},
            count=1,
            block=self.cfg.block_ms,
        )
        for _stream, entries in got or []:
            for entry_id, fields in entries:
                if fields:
                    h = Held.of(entry_id, fields)
                    self.held[h.entry_id] = h
        return bool(got)

    def _claim(self) -> bool:
        """Take over entries idle longer than ``claim_idle_ms``: their worker died."""
        reply = self.client.xautoclaim(
            self.cfg.stream,
            self.cfg.group,
            self.consumer,
            self.cfg.claim_idle_ms,
            start_id="0-0",
            count=10,
        )
        claimed, deleted = reply[1], reply[2] if len(reply) > 2 else []
        if deleted:
            # Trimmed while pending cannot happen with our trimming; drop them from the PEL.
            self.client.xack(self.cfg.stream, self.cfg.group, *deleted)
        for entry_id, fields in claimed:
            if not fields:
                continue
            eid = _s(entry_id)
            info = self.client.xpending_range(
                self.cfg.stream, self.cfg.group, min=eid, max=eid, count=1
            )
            deliveries = int(info[0]["times_delivered"]) if info else 1
            self.held[eid] = Held.of(eid, fields, deliveries)
            self.stats.claimed += 1
            metrics.record(self.client, self.cfg.stream, "claimed")
            event(log, "claimed", consumer=self.consumer, entry=eid, deliveries=deliveries)
        return bool(claimed)

    def _heartbeat(self) -> None:
        """Reset the idle time of entries we hold, so no one claims them while we wait."""
        self._last_beat = time.monotonic()
        live = [h.entry_id for h in self.held.values() if not h.failed]
        if live:
            self.client.xclaim(self.cfg.stream, self.cfg.group, self.consumer, 0, live, justid=True)

    def _work(self) -> bool:
        """Store the held entry whose turn it is; wait briefly if none is next."""
        for h in [h for h in self.held.values() if h.failed]:
            del self.held[h.entry_id]  # left pending: claimed again later, counted
        if not self.held:
            return False
        try:
            with self.engine.connect() as conn:
                sources = {h.source for h in self.held.values()}
                done = {src: applied_seq(conn, src) for src in sources}
        except (OperationalError, DBAPIError) as exc:
            self._db_trouble(exc)
            return False
        for h in sorted(self.held.values(), key=lambda h: (h.source, h.seq)):
            if h.seq <= done[h.source]:
                self._ack(h, None)
                self.stats.skipped_batches += 1
                return True
            if h.seq == done[h.source] + 1:
                self._apply(h)
                return True
        time.sleep(0.005)  # an earlier batch is still being prepared by another worker
        return True

    def _prime(self, h: Held) -> Batch:
        """The CPU part, outside the lock: decode, normalize, match, classify."""
        if h.batch is None:
            h.batch = decode_batch(h.data)
        if not h.primed:
            posts, _ = stages.normalize(h.batch.posts)
            hits = self.matcher.inner.match(posts)
            self.matcher.primed = {
                (p.network, p.external_id): hit for p, hit in zip(posts, hits, strict=True)
            }
            brand_id = self._brand_id(h.brand)
            matched = stages.match(posts, self.matcher, self.pipeline.accounts, brand_id)
            texts = list(dict.fromkeys(m.post.text for m in matched if m.brand_ids))
            start = time.perf_counter()
            labels = self.classifier.inner.classify(texts) if texts else []
            h.classify_s = time.perf_counter() - start
            self.classifier.primed = dict(zip(texts, labels, strict=True))
            h.primed = True
        return h.batch

    def _brand_id(self, slug: str | None) -> int | None:
        if slug is None:
            return None
        if slug not in self._brands:
            from earful.brands.service import ensure_brand

            with transaction(self.engine) as session:
                self._brands[slug] = ensure_brand(session, slug).id
        return self._brands[slug]

    def _apply(self, h: Held) -> None:
        try:
            if h.deliveries > self.cfg.max_deliveries:
                self._dead_letter(h)
                return
            batch = self._prime(h)
            brand_id = self._brand_id(h.brand)
            start = time.perf_counter()
            with self.engine.begin() as conn:
                lock_ingest(conn)
                repo = IngestRepository(conn)
                source_id, _ = repo.source(h.source, h.kind, brand_id)
                if applied_seq(conn, h.source) >= h.seq:
                    result = None  # stored meanwhile by a worker that claimed it
                else:
                    result = self.pipeline.process(conn, batch, h.source, source_id, brand_id)
                    repo.save_cursor(source_id, batch.cursor)
                    save_seq(conn, source_id, h.seq)
            store_s = time.perf_counter() - start
        except (OperationalError, DBAPIError) as exc:
            if _connection_lost(exc):
                self._db_trouble(exc)
                return
            self._failed(h, exc)
            return
        except Exception as exc:
            self._failed(h, exc)
            return
        finally:
            self.matcher.primed = {}
            self.classifier.primed = {}
        h.primed = False
        self._ack(h, result, store_s)

    def _failed(self, h: Held, exc: Exception) -> None:
        """A batch that raised: leave it pending; after ``max_deliveries`` it is dead-lettered."""
        h.failed = True
        h.primed = False
        event(
            log,
            "batch failed",
            logging.ERROR,
            entry=h.entry_id,
            seq=h.seq,
            deliveries=h.deliveries,
            error=f"{type(exc).__name__}: {str(exc)[:200]}",
        )

    def _db_trouble(self, exc: Exception) -> None:
        self.stats.db_retries += 1
        metrics.record(self.client, self.cfg.stream, "db_retries")
        event(log, "database unavailable, retrying", logging.WARNING, error=type(exc).__name__)
        self.engine.dispose()
        self._heartbeat()
        time.sleep(min(0.2 * 2 ** min(self.stats.db_retries, 5), 5.0))

    def _dead_letter(self, h: Held) -> None:
        """Keep the entry (dead-letter table and stream), advance the sequence, acknowledge."""
        reason = f"stream entry {h.entry_id} failed {h.deliveries - 1} deliveries"
        with self.engine.begin() as conn:
            lock_ingest(conn)
            repo = IngestRepository(conn)
            source_id, _ = repo.source(h.source, h.kind, self._brand_id(h.brand))
            if applied_seq(conn, h.source) < h.seq:
                repo.dead_letters(h.source, [Rejected(f"stream seq {h.seq}", reason, h.data)])
                save_seq(conn, source_id, h.seq)
        self.client.xadd(
            self.cfg.dead_stream,
            {
                "entry": h.entry_id,
                "seq": h.seq,
                "source": h.source,
                "reason": reason,
                "batch": h.data,
            },
        )
        self.stats.dead_lettered += 1
        event(log, "dead-lettered", logging.ERROR, entry=h.entry_id, seq=h.seq)
        self._ack(h, None)

    def _ack(self, h: Held, result: IngestSummary | None, store_s: float = 0.0) -> None:
        latency = max(0.0, time.time() - id_ms(h.entry_id) / 1000)
        pipe = self.client.pipeline(transaction=False)
        pipe.xack(self.cfg.stream, self.cfg.group, h.entry_id)
        if result is not None:
            metrics.record_batch(
                pipe,
                self.cfg.stream,
                ingested=result.ingested,
                duplicates=result.duplicates,
                dead_lettered=result.dead_lettered,
                unmatched=result.unmatched,
                latency_s=latency,
                classify_s=h.classify_s,
                store_s=store_s,
            )
        try:
            pipe.execute()
        except REDIS_ERRORS:
            # Stored but not acknowledged: a redelivery will find the sequence stored and skip.
            self.stats.redis_retries += 1
        self.held.pop(h.entry_id, None)
        if result is not None:
            self.stats.batches += 1
            self.stats.posts += result.ingested
            self.stats.duplicates += result.duplicates
            self.stats.latencies.append(latency)
            event(
                log,
                "batch stored",
                consumer=self.consumer,
                seq=h.seq,
                source_seq_of=h.source[-40:],
                ingested=result.ingested,
                duplicates=result.duplicates,
                dead_lettered=result.dead_lettered,
                store_ms=round(store_s * 1000, 1),
                latency_ms=round(latency * 1000, 1),
            )


def _connection_lost(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    text = str(exc.orig if exc.orig is not None else exc).lower()
    return isinstance(exc, OperationalError) or any(
        word in text
        for word in ("terminating connection", "server closed", "connection", "shutting down")
    )


def trim(client: RedisClient, cfg: StreamConfig) -> int:
    """Drop acknowledged entries only: keep everything from the oldest unacknowledged one."""
    try:
        groups = client.xinfo_groups(cfg.stream)
    except redis.ResponseError:
        return 0
    if not groups:
        return 0
    floor: tuple[int, int] | None = None
    for g in groups:
        pending = client.xpending(cfg.stream, g["name"])
        keep = _s(pending["min"]) if pending["pending"] else _s(g["last-delivered-id"])
        ms, seq = (int(x) for x in keep.split("-"))
        if floor is None or (ms, seq) < floor:
            floor = (ms, seq)
    if floor is None or floor == (0, 0):
        return 0
    return int(client.xtrim(cfg.stream, minid=f"{floor[0]}-{floor[1]}", approximate=False))
