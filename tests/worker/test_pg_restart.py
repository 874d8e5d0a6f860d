"""A PostgreSQL restart in the middle of a run: the workers retry, nothing is lost or doubled.

The test runs a private, throwaway PostgreSQL cluster (``initdb`` into a temporary
directory, its own port), so restarting it never disturbs the shared server other tests
use. Worker subprocesses store a replay from a Redis Stream into it; the server is stopped
twice while batches are in flight - once with ``-m immediate`` (a crash: no shutdown
checkpoint, recovery from the WAL on start) and once with ``-m fast`` (sessions told to
terminate) - and started again after a pause. At the end the database holds exactly the
posts and conversations a single-process run makes.

Under CI=true a cluster that cannot be created or started is a failure, not a skip.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from earful.connectors.replay import FileReplay
from earful.db import make_engine
from earful.demo.generate import write
from earful.migrate import upgrade
from earful.worker import metrics
from earful.worker.redis_streams import Publisher, StreamConfig, ensure_group
from earful.worker.repository import applied_seq
from tests.conftest import IN_CI
from tests.pipeline.test_runner import demo_brands
from tests.worker.helpers import (
    WORKER_REDIS_URL,
    assert_as_reference,
    assert_drained,
    final_state,
    reap,
    stream_keys,
)
from tests.worker.test_crash import Fleet
from tests.worker.test_redis_streams import reference

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

POSTS = int(os.environ.get("EARFUL_PG_RESTART_POSTS", "5000"))
BATCH = 200
WORKERS = 2


def _unavailable(why: str) -> None:
    if IN_CI:
        pytest.fail(f"a private PostgreSQL cluster is required under CI=true: {why}")
    pytest.skip(f"no private PostgreSQL cluster: {why}")


def _bindir() -> Path | None:
    """Where initdb and pg_ctl are: $EARFUL_TEST_PG_BIN, Debian's layout, or the PATH."""
    if os.environ.get("EARFUL_TEST_PG_BIN"):
        return Path(os.environ["EARFUL_TEST_PG_BIN"])
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """One throwaway cluster. PostgreSQL refuses to run as root: then every command runs
    as the ``postgres`` user (``runuser``), in a directory that user owns."""

    def __init__(self, bindir: Path, root: Path) -> None:
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = _free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            self.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(root, "postgres", "postgres")

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        done = subprocess.run(
            [*self.as_user, *args], capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            tail = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} exited {done.returncode}: {done.stderr}{tail}")

    def init(self) -> None:
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            timeout=120,
        )

    def start(self) -> None:
        # fsync=off is safe here: a crash of the server (not of the OS) keeps what was
        # written to the kernel; commits stay synchronous, so nothing acknowledged is lost.
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, mode: str) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def started_at(self) -> str:
        with psycopg.connect(self.dsn, connect_timeout=5) as conn:
            row = conn.execute("SELECT pg_postmaster_start_time()::text").fetchone()
        assert row is not None
        return str(row[0])


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    bindir = _bindir()
    if bindir is None or not (bindir / "pg_ctl").exists():
        _unavailable("initdb and pg_ctl not found (set EARFUL_TEST_PG_BIN)")
    assert bindir is not None
    # Not under pytest's tmp_path: its parents are private to the user running pytest,
    # and the server may have to run as another user.
    root = Path(tempfile.mkdtemp(prefix="earful-pg-"))
    c = Cluster(bindir, root)
    started = False
    try:
        try:
            c.init()
            c.start()
            started = True
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
            _unavailable(str(exc)[:2000])
        yield c
    finally:
        if started:
            with contextlib.suppress(OSError, RuntimeError, subprocess.TimeoutExpired):
                c.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def test_workers_ride_out_postgres_restarts(
    cluster: Cluster, redis_client: redis.Redis, tmp_path: Path
) -> None:
    corpus = tmp_path / "restart.jsonl"
    write(corpus, seed=23, posts=POSTS)
    db_url = cluster.dsn.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = make_engine(db_url)
    upgrade(engine)
    demo_brands(engine)
    client = redis.Redis.from_url(WORKER_REDIS_URL)
    restarts: list[tuple[str, int, float]] = []
    boots = [cluster.started_at()]
    with stream_keys(client) as stream:
        cfg = StreamConfig(stream=stream, max_pending=6)
        ensure_group(client, cfg)
        connector = FileReplay(corpus, "jsonl", batch_size=BATCH)
        publisher = Publisher(client, cfg, connector.source_name, connector.name)
        published = threading.Thread(target=publisher.run, args=(connector,))
        fleet = Fleet(db_url, stream, tmp_path)
        batches = -(-POSTS // BATCH)  # the generator may round up; only a guide for when
        plan = [(batches // 4, "immediate", 2.0), (batches // 2, "fast", 1.0)]
        try:
            for slot in range(WORKERS):
                fleet.start(slot)
            published.start()
            expected = reference(tmp_path, corpus, BATCH)  # meanwhile, on SQLite
            deadline = time.monotonic() + 300
            done = 0
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    done = applied_seq(conn, connector.source_name)
                if plan and done >= plan[0][0]:
                    # Batches are in flight: the publisher keeps the stream full.
                    _, mode, down_s = plan.pop(0)
                    engine.dispose()
                    t0 = time.monotonic()
                    cluster.stop(mode)
                    time.sleep(down_s)
                    cluster.start()
                    restarts.append((mode, done, round(time.monotonic() - t0, 1)))
                    boots.append(cluster.started_at())
                    continue
                if not plan and not published.is_alive() and done == publisher.seq:
                    break
                time.sleep(0.1)
            else:
                pytest.fail(f"the workers did not finish in time ({done} of {publisher.seq})")
            codes = fleet.terminate()
        finally:
            reap(fleet.procs.values(), published)
        logs = {p.name: p.read_text()[-1500:] for p in tmp_path.glob("w*.log")}
        assert codes == [0] * WORKERS, f"SIGTERM must stop a worker cleanly: {logs}"
        assert len(restarts) == 2 and len(set(boots)) == 3, "the server did not restart"
        assert all(0 < at < publisher.seq for _, at, _ in restarts), "not in mid-run"
        retries = int(client.hget(metrics.metrics_key(stream), "db_retries") or 0)
        assert retries >= 2, f"the workers never saw the database go away: {logs}"
        assert_drained(client, stream, cfg)
        assert fleet.generation == WORKERS, "a worker died and had to be restarted"
    got, stored = final_state(engine, client)
    print(
        f"postgres restart: {POSTS} posts, {publisher.seq} batches, restarts {restarts}, "
        f"{retries} database retries, {stored} stored"
    )
    assert_as_reference(got, stored, expected)
