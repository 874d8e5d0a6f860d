"""Load generator: realistic posts (the demo generator) into the Redis Stream at a target rate.

    python bench/replay.py --rate 1000 --seconds 600 [--redis URL] [--stream earful:ingest]

Publishes batches of ``--batch`` posts paced to ``--rate`` posts/s, with the same
backpressure as ``earful publish`` (it waits when the workers fall behind), and prints the
achieved rate and the stream's state every ``--every`` seconds, as JSON lines. Run
``earful worker`` processes against the same stream and database to consume it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import orjson
import redis

from earful.connectors.base import Batch
from earful.connectors.replay import FileReplay
from earful.demo.generate import write
from earful.worker.metrics import queue_state
from earful.worker.redis_streams import Publisher, StreamConfig, ensure_group


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=1000.0, help="posts per second")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--stream", default="earful:ingest")
    ap.add_argument("--max-pending", type=int, default=64)
    ap.add_argument("--every", type=float, default=5.0)
    args = ap.parse_args()
    client = redis.Redis.from_url(args.redis)
    cfg = StreamConfig(stream=args.stream, max_pending=args.max_pending)
    ensure_group(client, cfg)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / f"load-{args.seed}.jsonl"
        write(corpus, seed=args.seed, posts=int(args.rate * args.seconds))
        connector = FileReplay(corpus, "jsonl", batch_size=args.batch)
        pub = Publisher(client, cfg, f"load:{args.seed}:{time.time():.0f}", connector.name)
        start = last = time.monotonic()
        sent = 0

        def report(batch: Batch) -> None:
            nonlocal last, sent
            sent += len(batch.posts)
            now = time.monotonic()
            if now - last >= args.every:
                last = now
                state = queue_state(client, cfg.stream, cfg.group)
                doc = {"t": round(now - start, 1), "posts": sent, "rate": sent / (now - start)}
                print(orjson.dumps({**doc, **state}).decode(), flush=True)

        pub.run(connector, rate=args.rate, on_batch=report)
        took = time.monotonic() - start
        print(
            orjson.dumps(
                {
                    "done": True,
                    "posts": sent,
                    "seconds": took,
                    "rate": sent / took,
                    "backpressure_waits": pub.waits,
                }
            ).decode()
        )


if __name__ == "__main__":
    main()
