"""Erasure under stress: a process killed with SIGKILL after recording the erasure leaves it
pending and `earful customers erase --resume` finishes it; an erasure and the ingest of
the customer's new post running at the same time never leave that post behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from earful.brands.service import create_brand
from earful.cli.main import app
from earful.connectors.replay import FileReplay
from earful.customers import erasure
from earful.db import transaction
from earful.models import ErasureRequest, Post
from earful.models.base import utcnow
from earful.pipeline.repository import lock_ingest
from earful.pipeline.runner import Pipeline
from tests.customers.test_erasure import DANA, post, stream, walk

EARFUL = str(Path(sys.executable).with_name("earful"))


def seeded(engine: Engine, tmp_path: Path) -> None:
    with transaction(engine) as s:
        create_brand(s, "acme", "Acme Air", ["acme"], {"x": ["AcmeHelp"]})
    assert Pipeline(engine).ingest(FileReplay(stream(tmp_path), "jsonl")).ingested == 3


def pending(engine: Engine) -> int:
    with transaction(engine) as s:
        return len(erasure.pending(s))


@pytest.mark.postgres
def test_an_erasure_killed_half_way_is_finished_by_resume(
    pg_schema: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from earful.db import make_engine
    from earful.migrate import upgrade

    engine = make_engine(pg_schema)
    upgrade(engine)
    seeded(engine, tmp_path)
    env = {**os.environ, "EARFUL_DATABASE_URL": pg_schema}
    # The ingest lock held here stops the erasure after it recorded its request.
    with engine.begin() as held:
        lock_ingest(held)
        proc = subprocess.Popen(
            [EARFUL, "customers", "erase", "x", "--id", DANA["id"], "--yes"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while pending(engine) == 0:
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "the erasure never recorded its request"
            time.sleep(0.1)
        time.sleep(0.3)  # now waiting on the lock, inside its erasure transaction
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    # Killed: nothing was erased (one transaction), and the request is still pending.
    assert walk(engine) != [] and pending(engine) == 1
    monkeypatch.setenv("EARFUL_DATABASE_URL", pg_schema)
    done = CliRunner().invoke(app, ["customers", "erase", "--resume"])
    assert done.exit_code == 0, done.output
    assert "finished an erasure: 1 account(s), 2 posts" in done.output
    assert walk(engine) == [] and pending(engine) == 0
    again = CliRunner().invoke(app, ["customers", "erase", "--resume"])
    assert "no erasure was left unfinished" in again.output
    engine.dispose()


@pytest.mark.parametrize("first", ["ingest", "erase"])
def test_erasure_beside_the_ingest_of_their_new_post_leaves_nothing(
    engine: Engine, tmp_path: Path, first: str
) -> None:
    seeded(engine, tmp_path)
    late = tmp_path / "late.jsonl"
    late.write_bytes(post(9, DANA, "any news on my suitcase never arrived at Zurich?") + b"\n")
    errors: list[BaseException] = []

    def ingest() -> None:
        try:
            Pipeline(engine).ingest(FileReplay(late, "jsonl"))
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    def erase() -> None:
        try:
            with transaction(engine) as s:
                who = erasure.find_identity(s, "x", external_id=DANA["id"])
                request_id = erasure.record_request(s, who, "test").id
            with transaction(engine) as s:
                request = s.get(ErasureRequest, request_id)
                assert request is not None
                erasure.carry_out(s, request, utcnow())
        except BaseException as exc:
            errors.append(exc)

    order = [ingest, erase] if first == "ingest" else [erase, ingest]
    threads = [threading.Thread(target=f) for f in order]
    # Both start while the ingest lock is held, so they meet at it.
    with engine.begin() as held:
        lock_ingest(held)
        for t in threads:
            t.start()
            time.sleep(0.3)
    for t in threads:
        t.join(60)
    assert errors == []
    assert walk(engine) == []
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).where(Post.external_id.like("%09"))) == 0
    # Whichever came first, the post of hers that comes later is refused too.
    assert Pipeline(engine).ingest(FileReplay(late, "jsonl"), from_start=True).ingested == 0


def test_unknown_customer_is_a_clear_error_and_changes_nothing(
    engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded(engine, tmp_path)
    monkeypatch.setenv("EARFUL_DATABASE_URL", db_url)
    runner = CliRunner()
    for args in (["x", "--id", "999"], ["x", "--handle", "nobody"], ["x"], []):
        out = runner.invoke(app, ["customers", "erase", *args, "--yes"])
        assert out.exit_code == 2, out.output
        assert "error" in out.output
    assert pending(engine) == 0 and walk(engine) != []
