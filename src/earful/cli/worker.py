"""`earful worker` (store batches from the Redis Stream) and `earful publish` (feed it)."""

from __future__ import annotations

import os
import signal
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Annotated

import redis
import typer

from earful.cli.context import console, engine_or_exit, err_console, settings_or_exit
from earful.connectors.base import ConnectorError
from earful.connectors.replay import FORMATS, FileReplay
from earful.migrate import upgrade
from earful.worker import logs, metrics
from earful.worker.redis_streams import Publisher, StreamConfig, Worker, client_name

RedisOpt = Annotated[
    str | None, typer.Option("--redis", help="Redis URL (default: EARFUL_REDIS_URL).")
]
DatabaseOpt = Annotated[
    str | None, typer.Option("--database", help="Database URL (default: EARFUL_DATABASE_URL).")
]
StreamOpt = Annotated[str, typer.Option(help="Redis Stream key.")]


def _client(url: str | None, name: str = "earful") -> redis.Redis:
    client = redis.Redis.from_url(
        url or settings_or_exit().redis_url,
        client_name=name,
        socket_timeout=10,
        socket_connect_timeout=5,
        health_check_interval=15,
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        err_console.print(f"[red]error:[/red] Redis is not reachable: {exc}")
        raise typer.Exit(2) from None
    return client


def _serve_metrics(port: int, client: redis.Redis, cfg: StreamConfig) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/metrics":
                self.send_error(404)
                return
            body = metrics.render(client, cfg.stream, cfg.group).encode()
            self.send_response(200)
            self.send_header("Content-Type", metrics.CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            return

    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def worker(
    consumer: Annotated[
        str | None, typer.Option(help="Consumer name (default: host-pid); unique per worker.")
    ] = None,
    stream: StreamOpt = "earful:ingest",
    group: Annotated[str, typer.Option(help="Consumer group.")] = "earful-workers",
    max_deliveries: Annotated[
        int, typer.Option(help="Dead-letter an entry delivered more often than this.", min=1)
    ] = 5,
    claim_idle_ms: Annotated[
        int, typer.Option(help="Claim entries of a worker silent this long (ms).", min=100)
    ] = 10_000,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Exit once the stream is drained.")
    ] = False,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve /metrics on this port (Prometheus).")
    ] = None,
    redis_url: RedisOpt = None,
    database: DatabaseOpt = None,
) -> None:
    stop = threading.Event()  # SIGTERM during start-up: exit cleanly before the first batch
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    settings = settings_or_exit(database)
    logs.configure(settings.log_level)
    engine = engine_or_exit(database)
    upgrade(engine)
    w_name = consumer or f"{socket.gethostname()}-{os.getpid()}"
    # Named after the consumer: other workers see at once when this process is gone.
    client = _client(redis_url, client_name(w_name))
    cfg = StreamConfig(
        stream=stream, group=group, max_deliveries=max_deliveries, claim_idle_ms=claim_idle_ms
    )
    if metrics_port:
        _serve_metrics(metrics_port, client, cfg)
    w = Worker(engine, client, cfg, w_name)
    w.install_signals()
    if stop.is_set():
        w.stop()
    stats = w.run(until_idle=until_idle)
    engine.dispose()
    err_console.print(
        f"worker {w.consumer}: {stats.batches:,} batches, {stats.posts:,} posts stored, "
        f"{stats.claimed:,} claimed, {stats.dead_lettered:,} dead-lettered"
    )


def publish(
    path: Annotated[Path, typer.Argument(help="File to replay into the stream.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="jsonl, twcs or jetstream.")] = "jsonl",
    brand: Annotated[
        str | None, typer.Option(help="Route every post of the file to this brand (slug).")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=100_000)] = 500,
    rate: Annotated[
        float | None, typer.Option(help="Target posts/s (a load generator); default: as fast.")
    ] = None,
    from_start: Annotated[
        bool, typer.Option("--from-start", help="Ignore the stored position and re-read it all.")
    ] = False,
    max_pending: Annotated[
        int, typer.Option(help="Wait while this many batches are unfinished.", min=1)
    ] = 64,
    stream: StreamOpt = "earful:ingest",
    redis_url: RedisOpt = None,
) -> None:
    if fmt not in FORMATS:
        err_console.print(f"[red]error:[/red] --format must be one of {', '.join(FORMATS)}")
        raise typer.Exit(2)
    try:
        connector = FileReplay(path, fmt, batch_size)
    except ConnectorError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    client = _client(redis_url, "earful-publisher")
    cfg = StreamConfig(stream=stream, max_pending=max_pending)
    pub = Publisher(client, cfg, connector.source_name, connector.name, brand)
    sent = pub.run(connector, from_start=from_start, rate=rate)
    console.print(
        f"published {sent:,} records as batches up to #{pub.seq} "
        f"({pub.waits:,} backpressure waits)",
    )
