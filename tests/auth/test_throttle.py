"""Sign-in under a brute-force loop: a few wrong passwords are checked, then each attempt
waits twice as long and is refused unchecked, then the account locks until an admin or
the clock lifts it. Counted per account and per client address."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from earful.cli.main import app as cli
from earful.config import load_settings
from earful.db import make_engine
from earful.models.base import utcnow
from earful.web.app import create_app
from tests.web.world import PASSWORD

runner = CliRunner()


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("EARFUL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("EARFUL_DATABASE_URL", raising=False)
    assert runner.invoke(cli, ["init"]).exit_code == 0
    assert runner.invoke(cli, ["brands", "add", "acme", "--keyword", "acme"]).exit_code == 0
    for who in ("alice", "bob"):
        made = runner.invoke(
            cli,
            ["users", "create", f"{who}@example.org", "--brand", "acme:agent",
             "--password", PASSWORD],
        )  # fmt: skip
        assert made.exit_code == 0, made.output
    return load_settings().resolved_database_url


def browser(url: str, clock: Clock, address: str = "203.0.113.7") -> Callable[..., object]:
    app = create_app(make_engine(url), secret_key="test-secret-key-0123456789abcdef", live=False)
    app.state.clock = clock
    c = TestClient(app, base_url="https://testserver", client=(address, 50000))
    token = c.get("/login").text.split('name="csrf_token" value="')[1].split('"')[0]

    def attempt(email: str, password: str) -> object:
        return c.post(
            "/login",
            data={"email": email, "password": password, "csrf_token": token},
            follow_redirects=False,
        )

    return attempt


def test_a_guessing_loop_is_slowed_then_locked_and_an_admin_unlocks(env: str) -> None:
    clock = Clock()
    attempt = browser(env, clock)
    answers = [attempt("alice@example.org", f"guess-{i}") for i in range(40)]
    codes = [r.status_code for r in answers]  # type: ignore[attr-defined]
    assert codes[:5] == [401] * 5  # the free failures are checked and counted
    assert set(codes[5:]) == {429}  # then refused without a check
    retry = int(answers[-1].headers["retry-after"])  # type: ignore[attr-defined]
    assert 1 <= retry <= 4 and "Too many sign-in attempts" in answers[-1].text  # type: ignore[attr-defined]
    # The right password right after the loop is refused too: the delay holds.
    assert attempt("alice@example.org", PASSWORD).status_code == 429  # type: ignore[attr-defined]
    # Each further wrong guess, once heard, doubles the wait.
    waits = []
    for i in range(10):
        clock.advance(retry)
        r = attempt("alice@example.org", f"later-{i}")
        assert r.status_code == 401, i  # type: ignore[attr-defined]
        blocked = attempt("alice@example.org", f"again-{i}")
        assert blocked.status_code == 429  # type: ignore[attr-defined]
        retry = int(blocked.headers["retry-after"])  # type: ignore[attr-defined]
        waits.append(retry)
    assert waits[:4] == [4, 8, 16, 32]
    assert max(waits[:-1]) == 300  # capped at five minutes
    # The fifteenth checked failure locks the account for an hour, whatever the password.
    assert waits[-1] == 3600
    clock.advance(50 * 60)
    assert attempt("alice@example.org", PASSWORD).status_code == 429  # type: ignore[attr-defined]
    # Bob, from another address, is not affected by Alice's lock.
    other = browser(env, clock, address="198.51.100.9")
    assert other("bob@example.org", PASSWORD).status_code == 303  # type: ignore[attr-defined]
    lifted = runner.invoke(cli, ["users", "unlock", "alice@example.org"])
    assert lifted.exit_code == 0 and "unlocked" in lifted.output
    assert attempt("alice@example.org", PASSWORD).status_code == 303  # type: ignore[attr-defined]


def test_the_lock_lifts_with_time_and_a_success_clears_the_account(env: str) -> None:
    clock = Clock()
    attempt = browser(env, clock)
    for i in range(15):
        attempt("alice@example.org", f"guess-{i}")
        clock.advance(301)  # past any delay: every guess is checked
    assert attempt("alice@example.org", PASSWORD).status_code == 429  # type: ignore[attr-defined]
    clock.advance(3600)
    assert attempt("alice@example.org", PASSWORD).status_code == 303  # type: ignore[attr-defined]
    # Counting starts again from zero after a success (a new page: the login rotated
    # the CSRF token).
    again = browser(env, clock)
    assert [
        again("alice@example.org", f"typo-{i}").status_code  # type: ignore[attr-defined]
        for i in range(6)
    ] == [401] * 5 + [429]


def test_one_address_guessing_many_accounts_is_slowed_too(env: str) -> None:
    clock = Clock()
    attempt = browser(env, clock)
    codes = []
    for i in range(25):
        codes.append(attempt(f"user{i}@example.org", "password1").status_code)  # type: ignore[attr-defined]
    assert codes[:20] == [401] * 20 and set(codes[20:]) == {429}
    # The same address cannot get in as anyone meanwhile; another address can.
    assert attempt("bob@example.org", PASSWORD).status_code == 429  # type: ignore[attr-defined]
    other = browser(env, clock, address="198.51.100.9")
    assert other("bob@example.org", PASSWORD).status_code == 303  # type: ignore[attr-defined]
