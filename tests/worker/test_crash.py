"""The crash test: workers killed with SIGKILL, Redis connections cut, PostgreSQL connections
terminated, and the database ends exactly as a single-process run leaves it.

Size: ``EARFUL_CRASH_POSTS`` posts (default: the issue's 100,000). The single-process
reference runs in a forked process while the workers work, and the kills start at once;
workers start as ``python -m earful.worker`` (the worker command without the rest of the
CLI), since every kill pays a whole start-up again.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest
import redis

from earful.connectors.replay import FileReplay
from earful.db import make_engine
from earful.demo.generate import write
from earful.migrate import upgrade
from earful.worker.redis_streams import Publisher, StreamConfig, ensure_group
from earful.worker.repository import applied_seq
from tests.conftest import PG_DSN
from tests.worker.helpers import (
    WORKER_REDIS_URL,
    assert_as_reference,
    assert_drained,
    final_state,
    reap,
    stream_keys,
)
from tests.worker.test_redis_streams import reference

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

POSTS = int(os.environ.get("EARFUL_CRASH_POSTS", "100000"))
WORKERS = 3
BATCH = 500
CLAIM_IDLE_MS = 1500


class Fleet:
    """Worker subprocesses; each restart gets a new consumer name (the old one is dead)."""

    def __init__(self, db_url: str, stream: str, logdir: Path) -> None:
        self.db_url = db_url
        self.stream = stream
        self.logdir = logdir
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.names: dict[int, int] = {}
        self.generation = 0
        self.kills = 0

    def start(self, slot: int) -> None:
        self.generation += 1
        name = f"w{slot}-{self.generation}"
        env = {**os.environ, "EARFUL_LOG_LEVEL": "WARNING"}
        log = (self.logdir / f"{name}.log").open("wb")
        self.procs[slot] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "earful.worker",
                "--consumer",
                name,
                "--stream",
                self.stream,
                "--claim-idle-ms",
                str(CLAIM_IDLE_MS),
                "--database",
                self.db_url,
                "--redis",
                WORKER_REDIS_URL,
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.names[slot] = self.generation

    def kill_one(self, rng: random.Random) -> None:
        slot = rng.randrange(WORKERS)
        proc = self.procs[slot]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.kills += 1
        self.start(slot)

    def terminate(self) -> list[int]:
        # A process killed while Python itself starts has no handler yet: wait for each
        # current worker to have started working (it registers as named; a worker that
        # starts on a drained stream never joins the group, since reading nothing does
        # not create a consumer).
        client = redis.Redis.from_url(WORKER_REDIS_URL)
        wanted = {f"w{slot}-{gen}" for slot, gen in self.names.items()}
        named_key = StreamConfig(stream=self.stream).named_key
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if wanted <= {n.decode() for n in client.hkeys(named_key)}:
                break
            time.sleep(0.1)
        client.close()
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = []
        for proc in self.procs.values():
            try:
                codes.append(proc.wait(30))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait())
        return codes


def _reference_to(out: Path, tmp_path: Path, corpus: Path) -> None:
    out.write_bytes(pickle.dumps(reference(tmp_path, corpus, BATCH)))


class Reference:
    """The single-process run, on SQLite, in a forked process while the workers work."""

    def __init__(self, tmp_path: Path, corpus: Path) -> None:
        self.out = tmp_path / "reference.pickle"
        ctx = mp.get_context("fork")  # before any thread of this test starts
        self.proc = ctx.Process(target=_reference_to, args=(self.out, tmp_path, corpus))
        self.proc.start()

    def result(self) -> dict[str, object]:
        self.proc.join(600)
        assert self.proc.exitcode == 0, f"the reference run failed ({self.proc.exitcode})"
        loaded: dict[str, object] = pickle.loads(self.out.read_bytes())
        return loaded

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join()


def test_killed_workers_lose_and_double_nothing(
    pg_schema: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    corpus = tmp_path / "crash.jsonl"
    write(corpus, seed=17, posts=POSTS)
    app = f"earful-crash-{uuid.uuid4().hex[:8]}"
    db_url = f"{pg_schema}&application_name={app}"
    engine = make_engine(db_url)
    upgrade(engine)
    from tests.pipeline.test_runner import demo_brands

    demo_brands(engine)
    engine.dispose()  # no pooled connection for the fork to inherit
    started = time.monotonic()
    ref = Reference(tmp_path, corpus)
    client = redis.Redis.from_url(WORKER_REDIS_URL)
    rng = random.Random(9)
    with stream_keys(client) as stream:
        cfg = StreamConfig(stream=stream, max_pending=12)
        ensure_group(client, cfg)
        connector = FileReplay(corpus, "jsonl", batch_size=BATCH)
        publisher = Publisher(client, cfg, connector.source_name, connector.name)
        published = threading.Thread(target=publisher.run, args=(connector,))
        fleet = Fleet(db_url, stream, tmp_path)
        cuts = {"redis": 0, "postgres": 0}
        try:
            for slot in range(WORKERS):
                fleet.start(slot)
            published.start()
            deadline = time.monotonic() + 900
            last_seq, progressed = -1, time.monotonic()
            next_kill = time.monotonic() + rng.uniform(2.0, 4.0)
            while time.monotonic() < deadline:
                time.sleep(0.25)
                with engine.connect() as conn:
                    done = applied_seq(conn, connector.source_name)
                if not published.is_alive() and done == publisher.seq:
                    break
                if done > last_seq:
                    progressed = time.monotonic()
                    last_seq = done
                assert time.monotonic() - progressed < 60, "no progress for a minute"
                if time.monotonic() < next_kill:
                    continue
                next_kill = time.monotonic() + rng.uniform(2.0, 4.0)
                fleet.kill_one(rng)
                if fleet.kills % 3 == 0:
                    # Cut every worker's Redis connection; they reconnect.
                    for c in client.client_list():
                        if c.get("name", "").startswith("earful-worker:"):
                            client.client_kill_filter(_id=c["id"])
                            cuts["redis"] += 1
                if fleet.kills % 4 == 2:
                    # What workers see of a PostgreSQL restart: every connection dropped.
                    with psycopg.connect(PG_DSN, autocommit=True) as admin:
                        rows = admin.execute(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE application_name = %s",
                            (app,),
                        ).fetchall()
                    cuts["postgres"] += len(rows)
            else:
                pytest.fail("the workers did not finish in time")
            workers_s = time.monotonic() - started
            codes = fleet.terminate()
            expected = ref.result()
            reference_s = time.monotonic() - started
        finally:
            reap(fleet.procs.values(), published)
            ref.stop()
        assert codes == [0] * WORKERS, "SIGTERM must stop a worker cleanly"
        assert fleet.kills >= 3
        assert_drained(client, stream, cfg)
    got, stored = final_state(engine, client)
    print(
        f"crash test: {POSTS} posts, {fleet.kills} kills, cuts {cuts}, {stored} stored; "
        f"workers done after {workers_s:.0f} s, reference after {reference_s:.0f} s"
    )
    assert_as_reference(got, stored, expected)
