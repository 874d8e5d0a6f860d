"""Prometheus metrics of the ingest workers, in the text exposition format.

Workers are separate processes on separate machines, so they add their counters to one
Redis hash; ``/metrics`` (mounted by the web app, or served by ``earful worker
--metrics-port``) reads that hash, the stream's consumer-group state and the outbound
queue, so one scrape shows the whole cluster.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine

from earful.worker.repository import outbound_states

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
CLASSIFY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def metrics_key(stream: str) -> str:
    return f"{stream}:metrics"


def _bucket(value: float, buckets: Iterable[float]) -> str:
    for le in buckets:
        if value <= le:
            return f"{le:g}"
    return "+Inf"


def record_batch(
    pipe: Any,
    stream: str,
    *,
    ingested: int,
    duplicates: int,
    dead_lettered: int,
    unmatched: int,
    latency_s: float,
    classify_s: float,
    store_s: float,
) -> None:
    """Queue one batch's figures on a Redis pipeline (the caller executes it)."""
    key = metrics_key(stream)
    pipe.hincrby(key, "batches", 1)
    pipe.hincrby(key, "posts_ingested", ingested)
    pipe.hincrby(key, "posts_duplicate", duplicates)
    pipe.hincrby(key, "posts_dead_lettered", dead_lettered)
    pipe.hincrby(key, "posts_unmatched", unmatched)
    pipe.hincrbyfloat(key, "latency_sum", latency_s)
    pipe.hincrby(key, f"latency_le_{_bucket(latency_s, LATENCY_BUCKETS)}", 1)
    pipe.hincrbyfloat(key, "classify_sum", classify_s)
    pipe.hincrby(key, f"classify_le_{_bucket(classify_s, CLASSIFY_BUCKETS)}", 1)
    pipe.hincrbyfloat(key, "store_sum", store_s)
    pipe.hset(key, "last_batch_at", f"{time.time():.3f}")


def record(pipe: Any, stream: str, field: str, amount: int = 1) -> None:
    pipe.hincrby(metrics_key(stream), field, amount)


def _histogram(
    lines: list[str], name: str, help_: str, raw: dict[str, str], prefix: str, buckets: Any
) -> None:
    lines += [f"# HELP {name} {help_}", f"# TYPE {name} histogram"]
    total = 0
    for le in [*(f"{b:g}" for b in buckets), "+Inf"]:
        total += int(raw.get(f"{prefix}_le_{le}", 0))
        lines.append(f'{name}_bucket{{le="{le}"}} {total}')
    lines.append(f"{name}_sum {float(raw.get(f'{prefix}_sum', 0)):.6f}")
    lines.append(f"{name}_count {total}")


def _id_ms(entry_id: Any) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    return int(text.split("-", 1)[0])


def queue_state(client: Any, stream: str, group: str) -> dict[str, float]:
    """Depth, pending, undelivered and age of the oldest unfinished entry (lag) of a stream."""
    state = {"length": 0.0, "pending": 0.0, "undelivered": 0.0, "lag_seconds": 0.0, "consumers": 0}
    if not client.exists(stream):
        return state
    state["length"] = float(client.xlen(stream))
    groups = [g for g in client.xinfo_groups(stream) if _s(g["name"]) == group]
    if not groups:
        state["undelivered"] = state["length"]
        return state
    info = groups[0]
    state["pending"] = float(info["pending"])
    state["consumers"] = float(info["consumers"])
    lag = info.get("lag")
    state["undelivered"] = float(lag) if lag is not None else state["length"] - state["pending"]
    oldest: int | None = None
    if info["pending"]:
        oldest = _id_ms(client.xpending(stream, group)["min"])
    elif state["undelivered"]:
        after = client.xrange(stream, min=f"({_s(info['last-delivered-id'])}", count=1)
        oldest = _id_ms(after[0][0]) if after else None
    if oldest is not None:
        state["lag_seconds"] = max(0.0, time.time() - oldest / 1000)
    return state


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def render(client: Any, stream: str, group: str, engine: Engine | None = None) -> str:
    """The whole exposition text: worker counters, queue state, outbound jobs."""
    raw = {_s(k): _s(v) for k, v in client.hgetall(metrics_key(stream)).items()}
    lines: list[str] = []

    def counter(name: str, help_: str, field: str) -> None:
        lines.extend(
            [f"# HELP {name} {help_}", f"# TYPE {name} counter", f"{name} {raw.get(field, 0)}"]
        )

    def gauge(name: str, help_: str, value: float) -> None:
        lines.extend([f"# HELP {name} {help_}", f"# TYPE {name} gauge", f"{name} {value:g}"])

    counter("earful_ingest_posts_total", "Posts stored by the workers.", "posts_ingested")
    counter("earful_ingest_batches_total", "Stream batches stored.", "batches")
    counter(
        "earful_ingest_duplicates_total",
        "Posts skipped as already stored (redeliveries, re-reads).",
        "posts_duplicate",
    )
    counter(
        "earful_ingest_dead_lettered_total",
        "Records kept in the dead-letter table.",
        "posts_dead_lettered",
    )
    counter("earful_ingest_unmatched_total", "Posts about no brand.", "posts_unmatched")
    counter("earful_ingest_redeliveries_total", "Entries claimed from a dead worker.", "claimed")
    counter("earful_ingest_db_retries_total", "Database errors retried.", "db_retries")
    counter("earful_ingest_published_total", "Batches published to the stream.", "published")
    counter(
        "earful_ingest_backpressure_waits_total",
        "Times a publisher waited for room in the stream.",
        "publisher_waits",
    )
    _histogram(
        lines,
        "earful_ingest_latency_seconds",
        "From entering the stream to committed in the database, per batch.",
        raw,
        "latency",
        LATENCY_BUCKETS,
    )
    _histogram(
        lines,
        "earful_classify_seconds",
        "Classifier time per batch.",
        raw,
        "classify",
        CLASSIFY_BUCKETS,
    )
    q = queue_state(client, stream, group)
    gauge(
        "earful_queue_length",
        "Entries in the stream (acknowledged ones not yet trimmed).",
        q["length"],
    )
    gauge(
        "earful_queue_pending", "Entries delivered to a worker, not yet acknowledged.", q["pending"]
    )
    gauge("earful_queue_undelivered", "Entries no worker has read yet.", q["undelivered"])
    gauge("earful_queue_consumers", "Consumers in the group.", q["consumers"])
    gauge("earful_ingest_lag_seconds", "Age of the oldest unfinished entry.", q["lag_seconds"])
    last = float(raw.get("last_batch_at", 0) or 0)
    gauge("earful_ingest_last_batch_timestamp_seconds", "When a worker last stored a batch.", last)
    if engine is not None:
        with engine.connect() as conn:
            states = outbound_states(conn)
        lines += [
            "# HELP earful_outbound_jobs Outbound jobs (replies, likes, handoffs) per state.",
            "# TYPE earful_outbound_jobs gauge",
        ]
        for state, n in sorted(({"queued": 0, "sending": 0, "failed": 0} | states).items()):
            lines.append(f'earful_outbound_jobs{{state="{state}"}} {n}')
    return "\n".join(lines) + "\n"


def router(engine: Engine | None = None, redis_url: str | None = None) -> Any:
    """A FastAPI router serving ``GET /metrics``; the web app includes it."""
    import redis
    from fastapi import APIRouter
    from fastapi.responses import PlainTextResponse

    from earful.config import get_settings

    settings = get_settings()
    client = redis.Redis.from_url(redis_url or settings.redis_url, socket_timeout=2)
    r = APIRouter()

    @r.get("/metrics", include_in_schema=False)
    def metrics() -> PlainTextResponse:
        from earful.worker.redis_streams import StreamConfig

        cfg = StreamConfig()
        try:
            body = render(client, cfg.stream, cfg.group, engine)
        except redis.RedisError as exc:
            body = f"# redis unavailable: {type(exc).__name__}\nearful_redis_up 0\n"
        return PlainTextResponse(body, media_type=CONTENT_TYPE)

    return r
