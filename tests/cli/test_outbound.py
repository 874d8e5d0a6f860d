"""`earful outbound run/list/retry` against a fake Zendesk, and `earful mail serve`."""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from earful.cli.main import app
from earful.config import load_settings
from earful.db import make_engine, transaction
from earful.handoff import service as handoff_service
from earful.handoff import tokens
from earful.handoff.config import HandoffSettings
from earful.models import JobState, OutboundJob
from tests.engagement.helpers import complaint
from tests.fakes.network import FakeNetwork, serve
from tests.handoff.fake_helpdesk import FakeZendesk
from tests.handoff.fake_smtp import free_port

SECRET = "cli-secret"


@pytest.fixture
def zendesk() -> Iterator[tuple[FakeZendesk, str]]:
    fake = FakeZendesk()
    with serve(fake) as url:
        yield fake, url


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("EARFUL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("EARFUL_SECRET_KEY", SECRET)
    monkeypatch.delenv("EARFUL_DATABASE_URL", raising=False)
    result = CliRunner().invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    eng = make_engine(load_settings().resolved_database_url)
    yield eng
    eng.dispose()


def test_run_list_retry(
    engine: Engine, zendesk: tuple[FakeZendesk, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, url = zendesk
    for key, value in {"ZENDESK_URL": url, "ZENDESK_EMAIL": "agent@acme.example",
                       "ZENDESK_TOKEN": "zd-token"}.items():  # fmt: skip
        monkeypatch.setenv(f"EARFUL_{key}", value)
    desk = complaint(engine, FakeNetwork(), "http://fake.social", email="alice@example.org")
    with transaction(engine) as s:
        h = handoff_service.handoff(s, desk.agent, desk.conv_id, "zendesk", HandoffSettings())
        job_id = s.query(OutboundJob).filter_by(handoff_id=h.id).one().id
    runner = CliRunner()
    listed = runner.invoke(app, ["outbound", "list", "--state", "queued"])
    assert listed.exit_code == 0 and "zendesk" in listed.output and "queued: 1" in listed.output

    ran = runner.invoke(app, ["outbound", "run", "--once"])
    assert ran.exit_code == 0, ran.output
    assert "claimed 1, sent 1" in ran.output and fake.created == 1
    [ticket] = fake.tickets
    fake.add_comment(ticket, "On it, Alice.")
    pulled = runner.invoke(app, ["outbound", "run", "--once"])
    assert "ticket updates: 1 posts, 0 notes from 1 handoffs" in pulled.output

    refused = runner.invoke(app, ["outbound", "retry", str(job_id)])
    assert refused.exit_code == 1 and "only a failed job can be retried" in refused.output
    with transaction(engine) as s:
        job = s.get(OutboundJob, job_id)
        assert job is not None
        job.state, job.reason = JobState.FAILED, "outcome unknown"
    again = runner.invoke(app, ["outbound", "retry", str(job_id)])
    assert again.exit_code == 0 and f"job {job_id} queued again" in again.output
    assert runner.invoke(app, ["outbound", "list", "--state", "bogus"]).exit_code == 2


def test_mail_serve_files_an_answer(engine: Engine) -> None:
    desk = complaint(engine, FakeNetwork(), "http://fake.social")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "earful.cli.main", "mail", "serve", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                client = smtplib.SMTP("127.0.0.1", port, timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "no SMTP server"
                time.sleep(0.1)
        msg = EmailMessage()
        msg["From"] = "alice@example.org"
        msg["To"] = tokens.reply_address(desk.conv_id, SECRET, "reply.earful.local")
        msg["Subject"] = "Re: your bag"
        msg["Message-ID"] = "<cli-1@example.org>"
        msg.set_content("Tag AC1.")
        with client:
            client.send_message(msg)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert "1 messages filed" in out


def test_hours_are_set_checked_and_explained(engine: Engine) -> None:
    complaint(engine, FakeNetwork(), "http://fake.social")
    runner = CliRunner()
    ok = runner.invoke(app, ["outbound", "hours", "acme", "--timezone", "Europe/Paris",
                             "--hours", '{"mon": [["09:00", "17:00"]]}', "--auto-ack",
                             "--target-minutes", "30"])  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert "Europe/Paris" in ok.output and "auto-ack on" in ok.output
    assert "would be answered by" in ok.output and "target of 30 min" in ok.output
    bad = runner.invoke(
        app, ["outbound", "hours", "acme", "--hours", '{"mon": [["17:00", "09:00"]]}']
    )
    assert bad.exit_code == 2 and "ends before it starts" in bad.output
    assert runner.invoke(app, ["outbound", "hours", "nope"]).exit_code == 1
