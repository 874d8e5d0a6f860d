"""A browser over the app for the sign-in tests: forms with their CSRF token, a clock the
test moves, a client address, and the TOTP codes an authenticator app would show."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pyotp
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine

from earful.models.base import utcnow
from earful.web.app import create_app
from tests.web.world import PASSWORD

SECRET_KEY = "test-secret-key-0123456789abcdef"
FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
TOTP_SECRET = re.compile(r'class="totp-secret">([A-Z2-7]+)<')
RECOVERY = re.compile(r"<li><code>([a-z2-7]{4}(?:-[a-z2-7]{4}){3})</code></li>")


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def csrf_of(page: Response) -> str:
    found = FIELD.search(page.text)
    assert found, page.text[:400]
    return found.group(1)


class Browser:
    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        address: str = "203.0.113.7",
        agent: str = "TestBrowser/1.0",
    ) -> None:
        app = create_app(engine, secret_key=SECRET_KEY, live=False)
        app.state.clock = clock
        self.app = app
        self.clock = clock
        self.c = TestClient(
            app,
            base_url="https://testserver",
            client=(address, 50000),
            headers={"User-Agent": agent},
        )

    def get(self, url: str) -> Response:
        return self.c.get(url, follow_redirects=False)

    def post_form(self, page_url: str, target: str, **fields: str) -> Response:
        """Load the page, then post its form with the page's CSRF token."""
        token = csrf_of(self.c.get(page_url))
        return self.c.post(target, data={**fields, "csrf_token": token}, follow_redirects=False)

    def password(self, who: str, password: str = PASSWORD) -> Response:
        return self.post_form(
            "/login", "/login", email=f"{who}@example.org", password=password, next="/inbox"
        )

    def signed_in(self) -> bool:
        return self.get("/inbox").status_code == 200


def code_at(secret: str, when: datetime) -> str:
    return pyotp.TOTP(secret).at(when)
