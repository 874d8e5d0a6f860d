"""TOTP second factor over HTTP: enrolment (QR code drawn here, the key shown only until
confirmed), the sign-in's second step (throttled like passwords, a code good once),
recovery codes (ten, shown once, stored hashed, each good once), a brand that requires a
second factor, and ``earful users totp-reset``."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from earful.cli.main import app as cli
from earful.db import transaction
from earful.models import AuditEvent, RecoveryCode, TotpCredential, UserSession
from tests.auth.helpers import RECOVERY, TOTP_SECRET, Browser, Clock, code_at
from tests.web.world import World

runner = CliRunner()


def enrol(b: Browser) -> tuple[str, list[str]]:
    """Turn the second factor on from the account page; returns the key and the codes."""
    page = b.get("/account/totp")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert 'src="data:image/svg+xml' in page.text  # the QR code, drawn server-side
    secret = TOTP_SECRET.search(page.text)
    assert secret, page.text
    wrong = b.post_form("/account/totp", "/account/totp", code="000000")
    assert wrong.status_code == 400 and "not right" in wrong.text
    shown = b.post_form("/account/totp", "/account/totp", code=code_at(secret[1], b.clock()))
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    codes = RECOVERY.findall(shown.text)
    assert len(codes) == 10 and len(set(codes)) == 10
    return secret[1], codes


def test_optional_enrolment_then_a_sign_in_asks_for_the_code(
    engine: Engine, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = Clock()
    b = Browser(engine, clock)
    assert b.password("alice").headers["location"] == "/inbox"  # no second factor yet
    secret, codes = enrol(b)
    # Stored sealed and hashed; never shown back nor logged.
    with transaction(engine) as s:
        sealed = s.get(TotpCredential, world.users["alice"])
        assert sealed is not None and secret not in sealed.secret_sealed
        hashes = set(s.scalars(select(RecoveryCode.code_hash)))
    assert hashes == {hashlib.sha256(c.replace("-", "").encode()).hexdigest() for c in codes}
    account = b.get("/account").text
    assert secret not in account and "10 recovery codes left" in account
    assert b.get("/account/totp").headers["location"] == "/account"  # no second key shown
    assert all(secret not in r.getMessage() for r in caplog.records)

    # A new browser: the password alone does not sign in.
    other = Browser(engine, clock, address="198.51.100.4")
    step = other.password("alice")
    assert step.status_code == 303 and step.headers["location"] == "/login/totp?next=%2Finbox"
    assert not other.signed_in()
    clock.advance(30)
    code = code_at(secret, clock())
    done = other.post_form("/login/totp?next=/inbox", "/login/totp", code=code, next="/inbox")
    assert done.status_code == 303 and done.headers["location"] == "/inbox"
    assert other.signed_in()
    # The same code, seen over a shoulder, is good once.
    third = Browser(engine, clock, address="198.51.100.5")
    third.password("alice")
    replay = third.post_form("/login/totp", "/login/totp", code=code, next="/inbox")
    assert replay.status_code == 401 and not third.signed_in()
    # A recovery code works once, in any case and without its dashes.
    used = third.post_form("/login/totp", "/login/totp", code=codes[0].upper(), next="/inbox")
    assert used.status_code == 303 and third.signed_in()
    fourth = Browser(engine, clock, address="198.51.100.6")
    fourth.password("alice")
    again = fourth.post_form("/login/totp", "/login/totp", code=codes[0], next="/inbox")
    assert again.status_code == 401
    assert "9 recovery codes left" in b.get("/account").text
    with transaction(engine) as s:
        actions = list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    assert "auth.totp_enrolled" in actions and "auth.second_factor_failed" in actions
    assert actions.count("auth.second_factor") == 2


def test_the_second_step_is_throttled_and_expires(engine: Engine, world: World) -> None:
    clock = Clock()
    b = Browser(engine, clock)
    b.password("alice")
    secret, _ = enrol(b)
    guesser = Browser(engine, clock, address="198.51.100.4")
    guesser.password("alice")
    codes = [
        guesser.post_form("/login/totp", "/login/totp", code=f"{i:06d}", next="/").status_code
        for i in range(8)
    ]
    assert codes == [401] * 5 + [429] * 3  # then refused unchecked, as passwords are
    right = code_at(secret, clock() + timedelta(seconds=30))  # the next step's: unused
    held = guesser.post_form("/login/totp", "/login/totp", code=right, next="/")
    assert held.status_code == 429 and int(held.headers["retry-after"]) >= 1
    # An admin's unlock lifts the second step's delay at once.
    env = _env(engine)
    assert runner.invoke(cli, ["users", "unlock", "alice@example.org"], env=env).exit_code == 0
    ok = guesser.post_form("/login/totp", "/login/totp", code=right, next="/")
    assert ok.status_code == 303 and guesser.signed_in()
    # The password step half-done expires after ten minutes.
    late = Browser(engine, clock, address="198.51.100.5")
    late.password("alice")
    clock.advance(11 * 60)
    expired = late.post_form("/login/totp", "/login/totp", code=code_at(secret, clock()))
    assert expired.status_code == 401 and "expired" in expired.text
    assert not late.signed_in()


def _env(engine: Engine) -> dict[str, str]:
    return {"EARFUL_DATABASE_URL": engine.url.render_as_string(hide_password=False)}


def test_a_brand_requiring_a_second_factor_sends_its_members_to_enrol(
    engine: Engine, world: World
) -> None:
    clock = Clock()
    admin = Browser(engine, clock)
    admin.password("alice")
    agent = Browser(engine, clock, address="198.51.100.4")
    agent.password("agent")
    forbidden = agent.post_form("/account", "/brands/acme/sign-in-policy", require_totp="true")
    assert forbidden.status_code == 403
    on = admin.post_form("/account", "/brands/acme/sign-in-policy", require_totp="true")
    assert on.status_code == 303 and "required" in on.headers["location"]
    # The agent's next sign-in: password, then enrolment before any session.
    fresh = Browser(engine, clock, address="198.51.100.5")
    step = fresh.password("agent")
    assert step.headers["location"] == "/login/enrol?next=%2Finbox"
    assert not fresh.signed_in()
    page = fresh.get("/login/enrol?next=/inbox")
    assert "requires a second factor" in page.text
    secret = TOTP_SECRET.search(page.text)
    assert secret
    assert TOTP_SECRET.search(fresh.get("/login/enrol").text)[1] == secret[1]  # type: ignore[index]
    shown = fresh.post_form(
        "/login/enrol", "/login/enrol", code=code_at(secret[1], clock()), next="/inbox"
    )
    assert shown.status_code == 200 and len(RECOVERY.findall(shown.text)) == 10
    assert fresh.signed_in()
    # Required: the member cannot turn it off.
    clock.advance(30)
    off = fresh.post_form("/account", "/account/totp/recovery-codes",
                          code=code_at(secret[1], clock()), action="off")  # fmt: skip
    assert off.status_code == 403
    # Bob (not an admin of acme) cannot touch acme's policy: it does not exist for him.
    bob = Browser(engine, clock, address="198.51.100.6")
    bob.password("bob")
    assert bob.post_form("/account", "/brands/acme/sign-in-policy").status_code == 404
    # A lost device: the CLI resets the second factor and ends the sessions.
    reset = runner.invoke(cli, ["users", "totp-reset", "agent@example.org"], env=_env(engine))
    assert reset.exit_code == 0 and "second factor removed" in reset.output, reset.output
    assert not fresh.signed_in()
    assert Browser(engine, clock).password("agent").headers["location"].startswith("/login/enrol")
    with transaction(engine) as s:
        assert s.get(TotpCredential, world.users["agent"]) is None
        assert not s.scalars(
            select(UserSession).where(UserSession.user_id == world.users["agent"])
        ).all()
        policy = s.scalars(select(AuditEvent).where(AuditEvent.action == "auth.policy_change"))
        assert [e.details for e in policy] == [{"status": "totp required"}]


def test_optional_second_factor_can_be_turned_off_with_a_code(engine: Engine, world: World) -> None:
    clock = Clock()
    b = Browser(engine, clock)
    b.password("alice")
    secret, codes = enrol(b)
    clock.advance(30)
    renewed = b.post_form("/account", "/account/totp/recovery-codes",
                          code=code_at(secret, clock()), action="codes")  # fmt: skip
    fresh = RECOVERY.findall(renewed.text)
    assert len(fresh) == 10 and not set(fresh) & set(codes)
    wrong = b.post_form("/account", "/account/totp/recovery-codes", code="123456", action="off")
    assert "wrong" in wrong.headers["location"].lower()
    clock.advance(30)
    off = b.post_form("/account", "/account/totp/recovery-codes",
                      code=code_at(secret, clock()), action="off")  # fmt: skip
    assert off.status_code == 303
    assert (
        Browser(engine, clock, address="198.51.100.4").password("alice").headers["location"]
        == "/inbox"
    )
