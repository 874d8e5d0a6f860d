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
Whether it is a batch's turn is decided only under the lock, from the database.

How a worker spends its time, so that N workers overlap instead of taking turns:

1. Read one entry (or claim a dead worker's) and *prime* it at once: decode, normalize,
   match and classify - the CPU work - and find or create its authors, outside the lock,
   in parallel with the other workers, whose batches may come before or after it.
2. Take the lock and read the source's applied sequence. Workers waiting for the lock
   sleep in PostgreSQL's lock queue; the next holder wakes as the previous one commits.
3. Its turn (applied = n - 1): run the database part of the pipeline, save ``n``, commit,
   acknowledge, and put a wake-up note ``<stream>:applied:<source>:<n>`` in Redis. A
   worker holding consecutive small batches (it reads up to ``merge_posts`` posts at once)
   stores them in one transaction, one ``Pipeline.process`` call after the other - the
   same as one transaction each, but the lock, the sequence and the commit are paid once.
   Then, outside the lock, judge the spike windows the batch counted (the counts
   commit with the posts; the detector has a lock of its own).
   Already stored (applied >= n, a redelivery): acknowledge. Too early (an earlier batch
   is still being primed by another worker, or its worker died): commit the empty
   transaction, which frees the lock, and block on the note of ``n - 1`` (BLMOVE, at
   most until the next check for dead workers' entries), then go back to 2. The note only
   wakes a worker early; a lost one costs that timeout, never a wrong order.

The models load before a worker joins the group (:meth:`Worker.warm_up`): a new worker
that read an entry and then spent seconds importing would hold up every batch after it.
Every few seconds one worker ANALYZEs the ingest tables that doubled since their last
statistics (``analyze_grown``): on a young database the plans go stale faster than
autovacuum looks, and the locked step is where a stale plan costs everyone.

A killed worker's entries hold up every later batch until someone claims them. Besides
XAUTOCLAIM after ``claim_idle_ms``, a worker whose Redis connections carry its name
(``client_name``, as ``earful worker`` does) registers in ``<stream>:named``; a waiting
worker claims the entries of a registered worker that has no connection left and has been
quiet ``dead_after_ms`` (a killed process's sockets close with it). A live worker whose
connection was cut at that moment may lose an entry to this: a redelivery, never a
second store, since the lock decides.
"""

from __future__ import annotations

import base64
import gc
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from types import FrameType
from typing import Any

import orjson
import redis
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from earful.alerts.service import Windows, detect_spikes, merge_windows
from earful.connectors.base import Batch, Connector
from earful.db import transaction
from earful.pipeline import stages
from earful.pipeline.repository import IngestRepository
from earful.pipeline.runner import IngestSummary, Pipeline
from earful.pipeline.schema import Labels, PostIn, Rejected
from earful.worker import metrics
from earful.worker.logs import event
from earful.worker.repository import (
    analyze_grown,
    lock_ingest,
    save_seq,
    seq_of,
    source_config,
)

log = logging.getLogger("earful.worker")

REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError)
CLIENT_PREFIX = "earful-worker:"
DEAD_CHECK_S = 0.2  # how often a waiting worker looks for workers that died
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
    # Seconds the wake-up note of a stored batch is kept for workers waiting on it.
    note_ttl_s: int = 60
    # A named worker with no connection left and quiet this long is dead: claim its entries.
    dead_after_ms: int = 500
    # Consecutive small batches are stored in one transaction, up to this many posts (the
    # lock, the sequence and the commit are paid once); a worker reads that much at once.
    merge_posts: int = 500
    max_read: int = 8
    # How often a worker looks for ingest tables grown past their statistics (0: never).
    analyze_every_s: float = 2.0

    @property
    def dead_stream(self) -> str:
        return f"{self.stream}:dead"

    def publisher_key(self, source: str) -> str:
        return f"{self.stream}:publisher:{source}"

    @property
    def named_key(self) -> str:
        """The workers whose Redis connections carry their name (see ``client_name``)."""
        return f"{self.stream}:named"

    def applied_key(self, source: str, seq: int) -> str:
        """The wake-up note: batch ``seq`` of ``source`` is stored."""
        return f"{self.stream}:applied:{source}:{seq}"


def client_name(consumer: str) -> str:
    """The name a worker gives its Redis connections: how other workers see it is alive."""
    return f"{CLIENT_PREFIX}{consumer}"


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
            "deleted": batch.deleted,
            "edited": [_post_doc(p) for p in batch.edited],
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
        deleted=[(str(n), str(e)) for n, e in doc.get("deleted", [])],
        edited=[_post(p) for p in doc.get("edited", [])],
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
    # The primed results the pipeline is answered from under the lock.
    hits: dict[tuple[str, str], frozenset[int]] = field(default_factory=dict)
    labels: dict[str, Labels] = field(default_factory=dict)
    identities: dict[tuple[str, str], int] = field(default_factory=dict)

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
    early: int = 0  # took the lock before the batch's predecessor was stored
    transactions: int = 0  # that stored batches (several consecutive ones may share one)
    latencies: list[float] = field(default_factory=list)


class Turn(Enum):
    """What taking the lock found for a held entry."""

    STORED = "stored"
    DEAD = "dead-lettered"
    SKIPPED = "skipped"  # stored before (a redelivery)
    EARLY = "early"  # its predecessor is not stored yet
    FAILED = "failed"  # left pending; claimed again later
    RETRY = "retry"  # the database went away


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
        self.warm = False
        pool_kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {})
        self.named = pool_kwargs.get("client_name") == client_name(self.consumer)
        self._last_dead_check = 0.0
        self._batch_posts = self.cfg.merge_posts  # size of the last batch seen
        self._brands: dict[str, int] = {}
        self._sources: dict[str, int] = {}
        self._last_claim = 0.0
        self._last_beat = time.monotonic()
        self._last_trim = 0.0
        self._last_analyze = time.monotonic()

    @property
    def claim_every_s(self) -> float:
        return self.cfg.claim_idle_ms / 4000

    # ------------------------------------------------------------ lifecycle

    def stop(self, *_: object) -> None:
        self.stopping = True

    def install_signals(self) -> None:
        def handler(_signum: int, _frame: FrameType | None) -> None:
            self.stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def warm_up(self) -> None:
        """Load the models now, before this worker takes an entry others will wait for.

        Then freeze the heap: the models, the imports and (in a forked worker) what the
        parent held stay for the process's life, and each full garbage collection walked
        them all again - 70-90 ms with the models alone, more in a worker forked from a
        bigger parent - a pause in which every worker waiting on this one's batch waited
        too. Frozen, a full collection walks only what came after: the batches' objects.
        """
        if not self.warm:
            self.classifier.inner.classify(["warm up :)"])
            if self.pipeline.second_tier is not None:
                self.pipeline.second_tier.classify(["warm up :)"])
            gc.collect()  # what loading left behind goes now, not into the frozen heap
            gc.freeze()
            self.warm = True

    def run(self, until_idle: bool = False, idle_s: float = 1.0) -> WorkerStats:
        """Work until stopped; ``until_idle``: also return once nothing came for ``idle_s``."""
        pause = 0.1
        self.warm_up()
        self._redis(lambda: ensure_group(self.client, self.cfg))
        self._redis(self._register)
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
        """On shutdown, hand entries not stored back at once (idle so others claim them).

        Every entry pending under our name, not only those held: a failed one stays
        pending until claimed again, and XGROUP DELCONSUMER would drop it for good."""
        try:
            mine = self.client.xpending_range(
                self.cfg.stream, self.cfg.group, "-", "+", 10_000, consumername=self.consumer
            )
            entries = {*self.held, *(_s(p["message_id"]) for p in mine)}
            if entries:
                self.client.xclaim(
                    self.cfg.stream,
                    self.cfg.group,
                    "released",
                    0,
                    sorted(entries),
                    idle=10 * self.cfg.claim_idle_ms,
                    justid=True,
                )
            self.held.clear()
            self.client.hdel(self.cfg.named_key, self.consumer)
            left = self.client.xpending_range(
                self.cfg.stream, self.cfg.group, "-", "+", 1, consumername=self.consumer
            )
            if not left:
                self.client.xgroup_delconsumer(self.cfg.stream, self.cfg.group, self.consumer)
        except redis.RedisError as exc:
            event(log, "release failed", logging.WARNING, error=type(exc).__name__)

    # ------------------------------------------------------------ one step

    def _step(self) -> bool:
        now = time.monotonic()
        busy = False
        if now - self._last_claim > self.claim_every_s:
            self._last_claim = now
            busy |= self._claim()
        if now - self._last_beat > self.claim_every_s:
            self._heartbeat()
        if now - self._last_trim > self.cfg.trim_every_s:
            self._last_trim = now
            trim(self.client, self.cfg)
        if self.cfg.analyze_every_s and now - self._last_analyze > self.cfg.analyze_every_s:
            self._last_analyze = now
            self._analyze()
        if not self.held and not self.stopping:
            busy |= self._read()
            if not self.held:
                busy |= self._claim_dead()
        if self.held:
            busy |= self._work()
        return busy

    @property
    def read_count(self) -> int:
        """Entries to read at once: what one transaction may store (only what is there)."""
        return max(1, min(self.cfg.max_read, self.cfg.merge_posts // max(1, self._batch_posts)))

    def _analyze(self) -> None:
        """Refresh the planner's statistics of ingest tables that grew fast (outside the
        ingest lock: ANALYZE does not block writers)."""
        try:
            with self.engine.begin() as conn:
                grown = analyze_grown(conn)
        except (OperationalError, DBAPIError) as exc:
            event(log, "analyze failed", logging.WARNING, error=type(exc).__name__)
            return
        if grown:
            event(log, "analyzed", consumer=self.consumer, tables=",".join(grown))

    def _read(self) -> bool:
        got = self.client.xreadgroup(
            self.cfg.group,
            self.consumer,
            {self.cfg.stream: ">"},
            count=self.read_count,
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
        # Our own held entries go idle while we store a batch longer than claim_idle_ms;
        # XAUTOCLAIM would take them back to us and count a delivery each time, and a good
        # batch would reach max_deliveries and be dead-lettered. Refresh them first.
        if self.held:
            self._heartbeat()
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
        self._register()

    def _register(self) -> None:
        """(Again: a worker taken for dead while its connection was cut is forgotten.)"""
        if self.named:
            self.client.hset(self.cfg.named_key, self.consumer, int(time.time()))

    def _claim_dead(self) -> bool:
        """Claim the entries of registered workers with no connection left (killed)."""
        now = time.monotonic()
        if not self.named or now - self._last_dead_check < DEAD_CHECK_S:
            return False
        self._last_dead_check = now
        named = {_s(n) for n in self.client.hkeys(self.cfg.named_key)} - {self.consumer}
        if not named:
            return False
        quiet = {
            _s(c["name"]): int(c["pending"])
            for c in self.client.xinfo_consumers(self.cfg.stream, self.cfg.group)
            if _s(c["name"]) in named and int(c["idle"]) >= self.cfg.dead_after_ms
        }
        if not quiet:
            return False
        alive = {
            name[len(CLIENT_PREFIX) :]
            for c in self.client.client_list()
            if (name := _s(c.get("name", ""))).startswith(CLIENT_PREFIX)
        }
        claimed = False
        for name, pending in quiet.items():
            if name in alive:
                continue
            if not pending:
                self.client.hdel(self.cfg.named_key, name)  # dead, nothing left to take
                continue
            times = {
                _s(p["message_id"]): int(p["times_delivered"])
                for p in self.client.xpending_range(
                    self.cfg.stream, self.cfg.group, "-", "+", 100, consumername=name
                )
            }
            if not times:
                continue
            # Idle at least dead_after_ms: a second worker doing the same gets nothing.
            got = self.client.xclaim(
                self.cfg.stream, self.cfg.group, self.consumer, self.cfg.dead_after_ms, list(times)
            )
            for entry_id, fields in got:
                eid = _s(entry_id)
                if not fields or eid in self.held:
                    continue
                self.held[eid] = Held.of(eid, fields, times.get(eid, 0) + 1)
                self.stats.claimed += 1
                claimed = True
            if got:
                metrics.record(self.client, self.cfg.stream, "claimed", len(got))
                event(
                    log,
                    "claimed from a dead worker",
                    consumer=self.consumer,
                    dead=name,
                    entries=len(got),
                )
        return claimed

    def _work(self) -> bool:
        """Prime what we hold, then store the entry whose turn it is, or wait for its turn."""
        for h in [h for h in self.held.values() if h.failed]:
            del self.held[h.entry_id]  # left pending: claimed again later, counted
        for h in list(self.held.values()):
            if not self._prime(h):
                return True  # the database went away (retried after a pause)
        by_source: dict[str, dict[int, Held]] = {}
        for h in self.held.values():
            if not h.failed:
                by_source.setdefault(h.source, {})[h.seq] = h
        if not by_source:
            return bool(self.held)
        heads = sorted(
            (min(seqs.values(), key=lambda h: h.seq) for seqs in by_source.values()),
            key=lambda h: h.seq,
        )
        for head in heads:
            if self._apply(self._run(head, by_source[head.source])) is not Turn.EARLY:
                return True
        self._await_turn(heads)
        return True

    def _run(self, head: Held, seqs: dict[int, Held]) -> list[Held]:
        """``head`` and the consecutive batches after it that we hold, up to ``merge_posts``
        posts: stored in one transaction, exactly as one after the other."""
        run = [head]
        posts = _posts(head)
        while (nxt := seqs.get(run[-1].seq + 1)) is not None:
            posts += _posts(nxt)
            if posts > self.cfg.merge_posts:
                break
            run.append(nxt)
        return run

    def _await_turn(self, waiting: Sequence[Held]) -> None:
        """Sleep until the predecessor of a held entry is stored (its note appears), at most
        until the next look for dead workers' entries."""
        self.stats.early += 1
        if self._claim_dead():
            return  # the predecessor may be among what was claimed
        left = self._last_claim + self.claim_every_s - time.monotonic()
        if self.named:
            left = min(left, self._last_dead_check + DEAD_CHECK_S - time.monotonic())
        timeout = max(0.01, min(left, 0.5 if len(waiting) == 1 else 0.05))
        h = waiting[0]
        key = self.cfg.applied_key(h.source, h.seq - 1)
        # BLMOVE of a list onto itself: waits like BLPOP but leaves the note for others.
        self.client.blmove(key, key, timeout)

    def _prime(self, h: Held) -> bool:
        """The CPU part, outside the lock: decode, normalize, match, classify.

        False when the database went away (for the brand's id); a batch that raises is
        marked failed (left pending, so it is claimed again and counted)."""
        if h.primed or h.deliveries > self.cfg.max_deliveries:
            return True  # a dead-lettered entry is not parsed
        try:
            if h.batch is None:
                h.batch = decode_batch(h.data)
                self._batch_posts = len(h.batch.posts)
            brand_id = self._brand_id(h.brand)
            posts, _ = stages.normalize(h.batch.posts)
            hits = self.matcher.inner.match(posts)
            h.hits = {(p.network, p.external_id): hit for p, hit in zip(posts, hits, strict=True)}
            self.matcher.primed = h.hits
            matched = stages.match(posts, self.matcher, self.pipeline.accounts, brand_id)
            # Replies to a brand's post in this batch concern the brand too: classify them
            # now. (Replies to stored threads only the lock can see; those few it does.)
            matched = stages.follow_threads(matched, stages.ThreadIndex())
            texts = list(dict.fromkeys(m.post.text for m in matched if m.brand_ids))
            start = time.perf_counter()
            labels = self.classifier.inner.classify(texts) if texts else []
            h.classify_s = time.perf_counter() - start
            h.labels = dict(zip(texts, labels, strict=True))
            # Authors are found or created now, in a transaction of their own: an author
            # row is the same whichever batch makes it, so this needs no turn.
            with self.engine.begin() as conn:
                h.identities = IngestRepository(conn).identities(
                    [m.post for m in matched if m.brand_ids]
                )
            h.primed = True
        except (OperationalError, DBAPIError) as exc:
            if _connection_lost(exc):
                self._db_trouble(exc)
                return False
            self._failed(h, exc)
        except Exception as exc:
            self._failed(h, exc)
        finally:
            self.matcher.primed = {}
        return True

    def _brand_id(self, slug: str | None) -> int | None:
        if slug is None:
            return None
        if slug not in self._brands:
            from earful.brands.service import ensure_brand

            with transaction(self.engine) as session:
                self._brands[slug] = ensure_brand(session, slug).id
        return self._brands[slug]

    def _source_id(self, h: Held, brand_id: int | None) -> int:
        """The source's row (made on its first batch), looked up once per worker."""
        if h.source not in self._sources:
            with self.engine.begin() as conn:
                self._sources[h.source], _ = IngestRepository(conn).source(
                    h.source, h.kind, brand_id
                )
        return self._sources[h.source]

    def _apply(self, run: Sequence[Held]) -> Turn:
        """Take the lock; store the entries of ``run`` (consecutive batches of one source)
        whose turn has come, in one transaction (see the module docstring)."""
        head = current = run[0]
        done_now: list[tuple[Held, Turn, IngestSummary | None]] = []
        try:
            brand_id = self._brand_id(head.brand)
            source_id = self._source_id(head, brand_id)
            start = time.perf_counter()
            with self.engine.begin() as conn:
                lock_ingest(conn)
                config = source_config(conn, source_id)
                done = applied = seq_of(config)
                cursor: list[str | None] = []  # the last stored batch's cursor, if one was
                for current in run:
                    if current.seq <= applied:
                        done_now.append((current, Turn.SKIPPED, None))  # stored meanwhile
                        continue
                    if current.seq != done + 1:
                        break  # too early: committing the empty transaction frees the lock
                    if current.deliveries > self.cfg.max_deliveries:
                        reason = (
                            f"stream entry {current.entry_id} failed "
                            f"{current.deliveries - 1} deliveries"
                        )
                        IngestRepository(conn).dead_letters(
                            current.source,
                            [Rejected(f"stream seq {current.seq}", reason, current.data)],
                        )
                        done_now.append((current, Turn.DEAD, None))
                    else:
                        assert current.batch is not None and current.primed
                        self.matcher.primed = current.hits
                        self.classifier.primed = current.labels
                        result = self.pipeline.process(
                            conn,
                            current.batch,
                            current.source,
                            source_id,
                            brand_id,
                            detect=False,  # after the commit: see _detect
                            identities=current.identities,
                        )
                        cursor = [current.batch.cursor]
                        done_now.append((current, Turn.STORED, result))
                    done = current.seq
                if cursor:
                    save_seq(conn, source_id, config, done, cursor[0], with_cursor=True)
                elif done > applied:
                    save_seq(conn, source_id, config, done)  # dead letters only
            store_s = time.perf_counter() - start
        except (OperationalError, DBAPIError) as exc:
            if _connection_lost(exc):
                self._db_trouble(exc)
                return Turn.RETRY
            self._failed(current, exc)  # rolled back: the others are tried again
            return Turn.FAILED
        except Exception as exc:
            self._failed(current, exc)
            return Turn.FAILED
        finally:
            self.matcher.primed = {}
            self.classifier.primed = {}
        if not done_now:
            return Turn.EARLY
        self.stats.transactions += any(turn is Turn.STORED for _, turn, _ in done_now)
        posts = max(1, sum(_posts(h) for h, _, _ in done_now))
        for h, turn, stored in done_now:
            if turn is Turn.DEAD:
                self._dead_letter(h)
            elif turn is Turn.SKIPPED:
                self.stats.skipped_batches += 1
            share = store_s * _posts(h) / posts  # of the transaction's time, for /metrics
            self._ack(h, stored, share, advanced=turn is not Turn.SKIPPED)
        windows: Windows = {}
        for _, _, stored in done_now:
            if stored is not None:
                merge_windows(windows, stored.windows)
        self._detect(windows)
        for _, _, stored in done_now:  # acknowledged and visible: now the second tier
            if stored is not None:
                self.pipeline.after_commit(stored)
        return done_now[-1][1]

    def _detect(self, windows: Windows) -> None:
        """Judge the spike windows the stored batches counted, outside the ingest lock.

        The counts committed with the posts; if this worker dies before judging them, the
        next batch that adds to the window judges it (a spike is many batches)."""
        if not windows:
            return
        try:
            with self.engine.begin() as conn:
                detect_spikes(conn, windows)
        except (OperationalError, DBAPIError) as exc:
            event(log, "spike detection failed", level=logging.WARNING, error=str(exc)[:200])

    def _failed(self, h: Held, exc: Exception) -> None:
        """A batch that raised: leave it pending; after ``max_deliveries`` it is dead-lettered."""
        h.failed = True
        h.primed = False
        self._sources.clear()  # in case the source's row is what went missing
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
        """The entry is kept in the dead-letter table (stored with its sequence number by
        :meth:`_apply`); copy it to the dead-letter stream too."""
        self.client.xadd(
            self.cfg.dead_stream,
            {
                "entry": h.entry_id,
                "seq": h.seq,
                "source": h.source,
                "reason": f"stream entry {h.entry_id} failed {h.deliveries - 1} deliveries",
                "batch": h.data,
            },
        )
        self.stats.dead_lettered += 1
        event(log, "dead-lettered", logging.ERROR, entry=h.entry_id, seq=h.seq)

    def _ack(
        self,
        h: Held,
        result: IngestSummary | None,
        store_s: float = 0.0,
        advanced: bool = False,
    ) -> None:
        latency = max(0.0, time.time() - id_ms(h.entry_id) / 1000)
        pipe = self.client.pipeline(transaction=False)
        pipe.xack(self.cfg.stream, self.cfg.group, h.entry_id)
        if advanced:
            note = self.cfg.applied_key(h.source, h.seq)
            pipe.rpush(note, 1)
            pipe.expire(note, self.cfg.note_ttl_s)
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


def _posts(h: Held) -> int:
    return len(h.batch.posts) if h.batch is not None else 0


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
