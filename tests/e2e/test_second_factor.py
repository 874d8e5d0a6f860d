"""The second factor in Chromium, as a person meets it: enrolling from the account page
(the key read off the page, the code computed as an authenticator app would), the code
asked at every sign-in (a wrong one refused, the right one let in), a recovery code good
once and only once, and a brand whose admin requires a second factor sending a member
without one through enrolment before the inbox.

The codes follow the real clock: a code is computed for the step after the current one
(the desk accepts one step of drift either way and never the same step twice), so no
assertion depends on how fast the test runs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from sqlalchemy import Engine, select

from earful.db import transaction
from earful.models import AuditEvent, Role
from tests.e2e.journey_helpers import PASSWORD, WAIT_MS, brand, chromium, person, served

WRONG = "Wrong or already used code."


@pytest.fixture
def desk(sqlite_engine: Engine) -> Iterator[str]:
    acme = brand(sqlite_engine, "acme", "Acme Air")
    person(sqlite_engine, "ada@example.org", "Ada Admin", {acme: Role.ADMIN})
    person(sqlite_engine, "gus@example.org", "Gus Agent", {acme: Role.AGENT})
    with served(sqlite_engine) as base:
        yield base


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def fresh_page(browser: Any) -> Any:
    page = browser.new_context().new_page()
    page.set_default_timeout(WAIT_MS)
    return page


def password_step(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def enter_code(page: Any, code: str) -> None:
    page.fill("input[name=code]", code)
    page.click("main button[type=submit]")


def log_out(page: Any, base: str) -> None:
    page.click("form[action='/logout'] button")
    page.wait_for_url(f"{base}/login")


def next_code(secret: str) -> str:
    """The code of the step after now: accepted (one step of drift) and never a step
    the desk has already seen."""
    return str(pyotp.TOTP(secret).at(time.time() + 30))


def wrong_code(secret: str) -> str:
    totp = pyotp.TOTP(secret)
    near = {totp.at(time.time() + 30 * k) for k in range(-3, 4)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in near)


def read_enrolment(page: Any) -> str:
    """The key as the enrolment page shows it under the QR code."""
    secret = str(page.locator("code.totp-secret").inner_text()).strip()
    assert page.locator("img.totp-qr").is_visible()
    assert len(secret) >= 16, secret
    return secret


def recovery_codes(page: Any) -> list[str]:
    page.get_by_role("heading", name="Your recovery codes").wait_for()
    return [str(c).strip() for c in page.locator("ol.codes code").all_inner_texts()]


def test_enrol_then_sign_in_with_the_code_and_a_recovery_code_once(
    browser: Any, desk: str, sqlite_engine: Engine
) -> None:
    base = desk
    page = fresh_page(browser)
    password_step(page, base, "gus@example.org")
    page.wait_for_url(f"{base}/inbox")  # no second factor yet: straight in
    page.goto(f"{base}/account")
    page.get_by_role("link", name="set it up").click()
    page.wait_for_url(f"{base}/account/totp")
    secret = read_enrolment(page)
    enter_code(page, wrong_code(secret))
    page.get_by_role("alert").wait_for()
    assert "not right" in page.get_by_role("alert").inner_text()
    secret = read_enrolment(page)  # a refused code starts a fresh key: read it again
    enter_code(page, str(pyotp.TOTP(secret).now()))
    codes = recovery_codes(page)
    assert len(codes) == 10 and len(set(codes)) == 10
    page.get_by_role("link", name="Continue").click()
    assert "Second factor (TOTP): on" in page.locator("main").inner_text()
    log_out(page, base)

    # The code is asked for now; a wrong one is refused, the right one lets her in.
    password_step(page, base, "gus@example.org")
    page.wait_for_url(f"{base}/login/totp**")
    enter_code(page, wrong_code(secret))
    assert page.get_by_role("alert").inner_text() == WRONG
    assert page.url.removeprefix(base).startswith("/login/totp")
    page.goto(f"{base}/inbox")  # half signed in is not signed in
    assert "/login" in page.url and page.url.removeprefix(base) != "/inbox"
    password_step(page, base, "gus@example.org")
    page.wait_for_url(f"{base}/login/totp**")
    enter_code(page, next_code(secret))
    page.wait_for_url(f"{base}/inbox")
    log_out(page, base)

    # A recovery code signs in once, and only once.
    password_step(page, base, "gus@example.org")
    page.wait_for_url(f"{base}/login/totp**")
    enter_code(page, codes[0])
    page.wait_for_url(f"{base}/inbox")
    log_out(page, base)
    password_step(page, base, "gus@example.org")
    page.wait_for_url(f"{base}/login/totp**")
    enter_code(page, codes[0])
    assert page.get_by_role("alert").inner_text() == WRONG
    enter_code(page, codes[1].upper())  # as typed off paper: the case does not matter
    page.wait_for_url(f"{base}/inbox")
    page.goto(f"{base}/account")
    assert "8 recovery codes left" in page.locator("main").inner_text()
    page.context.close()

    with transaction(sqlite_engine) as s:
        events = s.scalars(
            select(AuditEvent).where(AuditEvent.actor == "gus@example.org").order_by(AuditEvent.id)
        ).all()
        logged = [e.action for e in events]
        stored = [f"{e.details}{e.target}" for e in s.scalars(select(AuditEvent))]
        # From where: the browser's address, on every sign-in step.
        assert {e.address for e in events if e.action.startswith("auth.")} == {"127.0.0.1"}
    # The wrong code at sign-in, then the recovery code used a second time.
    assert logged.count("auth.second_factor_failed") == 2
    assert logged.count("auth.second_factor") == 3  # the code, then two recovery codes
    assert "auth.totp_enrolled" in logged
    for kept in (secret, *codes):  # neither the key nor a recovery code is in the log
        assert not any(kept in text for text in stored)


def test_a_brand_that_requires_it_sends_a_member_through_enrolment_first(
    browser: Any, desk: str
) -> None:
    base = desk
    admin = fresh_page(browser)
    password_step(admin, base, "ada@example.org")
    admin.wait_for_url(f"{base}/inbox")
    admin.goto(f"{base}/brands/acme/settings")
    admin.get_by_label("Require a second factor (TOTP) of every member").check()
    admin.locator("form[action='/brands/acme/sign-in-policy'] button[type=submit]").click()
    admin.get_by_text("A second factor is now required.").wait_for()
    admin.context.close()

    page = fresh_page(browser)
    password_step(page, base, "gus@example.org")
    page.wait_for_url(f"{base}/login/enrol**")
    assert "requires a second factor" in page.locator("main").inner_text()
    page.goto(f"{base}/inbox")  # the inbox waits until the second factor is on
    assert page.url.removeprefix(base).startswith("/login")
    page.goto(f"{base}/login/enrol")
    secret = read_enrolment(page)
    enter_code(page, str(pyotp.TOTP(secret).now()))
    assert len(recovery_codes(page)) == 10
    page.get_by_role("link", name="Continue").click()
    page.wait_for_url(f"{base}/inbox")
    page.goto(f"{base}/account")
    main = page.locator("main").inner_text()
    assert "Second factor (TOTP): on" in main
    assert page.get_by_role("button", name="Turn off").count() == 0  # required: stays on
    page.context.close()
