"""`earful run`: the inbox, the outbound worker, the mail listener and the live sources in
one process, on a temporary SQLite desk and free ports; SIGTERM stops it all cleanly."""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from earful.cli.main import app
from earful.config import load_settings
from earful.db import make_engine, transaction
from earful.handoff import service as handoff_service
from earful.handoff import tokens
from earful.handoff.config import HandoffSettings
from earful.models import Brand, ConversationPost, JobState, OutboundJob, Post, Source
from earful.sources import service as sources
from tests.engagement.helpers import complaint
from tests.fakes.network import FakeNetwork
from tests.fakes.network import serve as serve_fake
from tests.handoff.fake_helpdesk import FakeZendesk
from tests.handoff.fake_smtp import free_port
from tests.protocol.fake_mastodon import FakeMastodon
from tests.protocol.server import serve as serve_asgi

SECRET = "run-secret"


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


def _until(check: Callable[[], object], what: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while not check():
        assert proc.poll() is None, f"earful run exited while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_one_process_runs_the_desk_and_stops_cleanly(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    zendesk, mastodon = FakeZendesk(), FakeMastodon()
    with serve_fake(zendesk) as zendesk_url, serve_asgi(mastodon.app()) as mastodon_host:
        for key, value in {"ZENDESK_URL": zendesk_url, "ZENDESK_EMAIL": "agent@acme.example",
                           "ZENDESK_TOKEN": "zd-token"}.items():  # fmt: skip
            monkeypatch.setenv(f"EARFUL_{key}", value)
        # A complaint handed off to Zendesk (a job for the worker), and the brand's
        # Mastodon source (a live stream for the sources).
        desk = complaint(engine, FakeNetwork(), "http://fake.social", email="alice@example.org")
        with transaction(engine) as s:
            handoff_service.handoff(s, desk.agent, desk.conv_id, "zendesk", HandoffSettings())
            source = sources.add_source(
                s, kind="mastodon", name="acme-mastodon", brand_id=desk.brand_id,
                settings={"base_url": f"http://{mastodon_host}", "access_token": mastodon.token,
                          "tag": "acmeair", "batch_wait_s": 0.05},
                secret_key=SECRET,
            )  # fmt: skip

        port, mail_port = free_port(), free_port()
        url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "earful.cli.main", "run", "--port", str(port),
             "--mail-port", str(mail_port), "--interval", "0.1"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ),
        )  # fmt: skip
        try:
            _until(lambda: _healthy(url), "/healthz", proc)

            # The outbound worker sends the queued handoff.
            def sent() -> bool:
                with engine.connect() as conn:
                    states = conn.scalars(select(OutboundJob.state)).all()
                return states == [JobState.SENT]

            _until(sent, "the handoff to be sent", proc)
            assert zendesk.created == 1

            # The mail listener files the customer's answer in the conversation.
            msg = EmailMessage()
            msg["From"] = "alice@example.org"
            msg["To"] = tokens.reply_address(desk.conv_id, SECRET, "reply.earful.local")
            msg["Subject"] = "Re: your bag"
            msg["Message-ID"] = "<run-1@example.org>"
            msg.set_content("Bag tag AC1, still nothing.")
            with smtplib.SMTP("127.0.0.1", mail_port, timeout=5) as client:
                client.send_message(msg)
            with engine.connect() as conn:
                thread = conn.scalars(
                    select(Post.text)
                    .join(ConversationPost, ConversationPost.post_id == Post.id)
                    .where(ConversationPost.conversation_id == desk.conv_id)
                ).all()
            assert any("Bag tag AC1" in text for text in thread), thread

            # The live source stores what the Mastodon stream says.
            def heard() -> bool:
                with engine.connect() as conn:
                    texts = conn.scalars(select(Post.text).where(Post.source_id == source.id))
                    return any("Lost my bag on flight 212" in t for t in texts)

            _until(heard, "the Mastodon stream's posts", proc)
        finally:
            stopped_at = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            try:
                out, _ = proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
                pytest.fail(f"earful run ignored SIGTERM:\n{out}")
        took = time.monotonic() - stopped_at

    assert proc.returncode == 0, out
    assert took < 5, (took, out)
    assert "Traceback" not in out and "error" not in out.lower(), out
    assert "live sources: acme-mastodon" in out and "1 email answers filed" in out, out
    assert out.rstrip().endswith("stopped"), out
    with engine.connect() as conn:
        assert conn.scalar(select(Source.status).where(Source.id == source.id)) == "stopped"


def test_sigint_stops_it_too_and_a_taken_port_is_an_error(engine: Engine) -> None:
    with transaction(engine) as s:  # credentials sealed under another secret key
        sources.add_source(
            s, kind="mastodon", name="stale", brand_id=None,
            settings={"base_url": "http://127.0.0.1:9", "access_token": "t", "tag": "x"},
            secret_key="an older key",
        )  # fmt: skip
    port = free_port()
    cmd = [sys.executable, "-m", "earful.cli.main", "run", "--port", str(port), "--no-mail"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ)
    )
    try:
        _until(lambda: _healthy(f"http://127.0.0.1:{port}"), "/healthz", proc)
        # A second desk on the same port says so and exits 1, leaving the first running.
        clash = subprocess.run(
            cmd, capture_output=True, text=True, timeout=60, env=dict(os.environ)
        )
        assert clash.returncode == 1, clash.stdout + clash.stderr
        assert f"could not start on http://127.0.0.1:{port}" in clash.stdout + clash.stderr
        assert _healthy(f"http://127.0.0.1:{port}")
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out
    assert "source stale not started: stored credentials cannot be decrypted" in out, out
    assert "live sources: none" in out and out.rstrip().endswith("stopped"), out


def test_a_source_paused_resumed_or_deleted_in_the_browser_reaches_a_running_desk(
    engine: Engine,
) -> None:
    """No restart: `earful run` closes a paused source's stream and stores nothing more
    from it; a resumed one is heard again from where it stopped; a deleted one is let go."""
    mastodon = FakeMastodon()
    added = CliRunner().invoke(app, ["brands", "add", "acme", "--keyword", "acmeair"])
    assert added.exit_code == 0, added.output
    with engine.connect() as conn:
        brand_id = conn.scalar(select(Brand.id).where(Brand.slug == "acme"))
    with serve_asgi(mastodon.app()) as mastodon_host:
        with transaction(engine) as s:
            source = sources.add_source(
                s, kind="mastodon", name="acme-mastodon", brand_id=brand_id,
                settings={"base_url": f"http://{mastodon_host}", "access_token": mastodon.token,
                          "tag": "acmeair", "batch_wait_s": 0.05},
                secret_key=SECRET,
            )  # fmt: skip
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "earful.cli.main", "run", "--port", str(port), "--no-mail"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ),
        )  # fmt: skip

        def stored(text: str) -> bool:
            with engine.connect() as conn:
                texts = conn.scalars(select(Post.text).where(Post.source_id == source.id))
                return any(text in t for t in texts)

        try:
            _until(lambda: stored("Lost my bag on flight 212"), "the stream's posts", proc)
            assert len(mastodon.connections) == 1 and mastodon.closed == 0

            with transaction(engine) as s:  # what the sources page does
                sources.set_paused(s, source.id, True)
            _until(lambda: mastodon.closed == 1, "the paused source's stream to close", proc)
            mastodon.publish("My refund from acmeair never came #acmeair")
            assert len(mastodon.connections) == 1  # nobody listens while paused
            assert not stored("My refund from acmeair never came")

            with transaction(engine) as s:
                sources.set_paused(s, source.id, False)
            _until(lambda: stored("My refund from acmeair never came"), "the resumed", proc)
            assert len(mastodon.connections) == 2

            with transaction(engine) as s:
                sources.delete_source(s, source.id)
            _until(lambda: mastodon.closed == 2, "the deleted source's stream to close", proc)
        finally:
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert "Traceback" not in out, out
