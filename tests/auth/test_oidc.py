"""OpenID Connect sign-in against a local provider fake over real HTTP: the code flow with
PKCE, state and nonce; the verified email matched to an existing account (created only if
configured); a bad signature, another audience, an expired token, a wrong nonce or state,
an unverified email: each refused, with no session."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import Engine, select

from earful.config import get_settings
from earful.db import transaction
from earful.models import AuditEvent, User, UserSession
from tests.auth.helpers import Browser, Clock
from tests.protocol.fake_oidc import FakeOidc
from tests.protocol.server import serve
from tests.web.world import World

CALLBACKS: list[dict[str, str]] = []  # what the provider sent back, for replays


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOidc]:
    fake = FakeOidc()
    with serve(fake.app()) as host:
        monkeypatch.setenv("EARFUL_OIDC_ISSUER", f"http://{host}")
        monkeypatch.setenv("EARFUL_OIDC_CLIENT_ID", fake.client_id)
        monkeypatch.setenv("EARFUL_OIDC_CLIENT_SECRET", fake.client_secret)
        monkeypatch.setenv("EARFUL_OIDC_LABEL", "Fake IdP")
        get_settings.cache_clear()
        yield fake
    get_settings.cache_clear()


def round_trip(b: Browser, state: str | None = None) -> httpx.Response:
    """Start at the app, pass by the provider (real HTTP), come back with its answer."""
    start = b.get("/login/oidc?next=/inbox")
    assert start.status_code == 303, start.text
    at_provider = start.headers["location"]
    query = parse_qs(urlsplit(at_provider).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"][0]
    back = httpx.get(at_provider, follow_redirects=False)
    assert back.status_code == 302, back.text
    url = urlsplit(back.headers["location"])
    assert url.path == "/login/oidc/callback"
    answer = parse_qs(url.query)
    if state is not None:
        answer["state"] = [state]
    params = {k: v[0] for k, v in answer.items()}
    CALLBACKS.append(params)
    return b.c.get(url.path, params=params, follow_redirects=False)


def test_a_verified_email_signs_in_its_account(
    engine: Engine, world: World, provider: FakeOidc
) -> None:
    b = Browser(engine, Clock())
    assert "Sign in with Fake IdP" in b.get("/login").text
    done = round_trip(b)
    assert done.status_code == 303 and done.headers["location"] == "/inbox"
    assert b.signed_in()
    assert provider.token_requests and len(provider.token_requests[0]["verifier"]) >= 43
    with transaction(engine) as s:
        row = s.scalars(select(UserSession)).one()
        assert row.user_id == world.users["alice"] and row.method == "oidc"
        assert "auth.sign_in" in set(s.scalars(select(AuditEvent.action)))
    assert "oidc" in b.get("/account/sessions").text
    # A replayed callback (same code, same state) is refused: the round trip is spent.
    again = b.c.get("/login/oidc/callback", params=CALLBACKS[-1], follow_redirects=False)
    assert again.status_code == 401 and "expired" in again.text


@pytest.mark.parametrize(
    ("mode", "why"),
    [
        ("bad_signature", "signature"),
        ("wrong_audience", "another client"),
        ("expired", "expired"),
        ("wrong_nonce", "nonce"),
        ("unverified", "did not vouch"),
    ],
)
def test_a_bad_id_token_is_refused(
    engine: Engine, world: World, provider: FakeOidc, mode: str, why: str
) -> None:
    provider.mode = mode
    b = Browser(engine, Clock())
    refused = round_trip(b)
    assert refused.status_code == 401 and why in refused.text
    assert not b.signed_in()
    with transaction(engine) as s:
        assert not s.scalars(select(UserSession)).all()


def test_state_must_match_and_unknown_emails_are_not_created(
    engine: Engine, world: World, provider: FakeOidc, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = Browser(engine, Clock())
    forged = round_trip(b, state="forged-state")
    assert forged.status_code == 401 and "state" in forged.text and not b.signed_in()
    # A callback with no round trip started here (another browser): refused.
    stranger = Browser(engine, Clock())
    cold = stranger.c.get("/login/oidc/callback?code=x&state=y", follow_redirects=False)
    assert cold.status_code == 401 and not stranger.signed_in()
    provider.email = "newcomer@example.org"
    unknown = round_trip(Browser(engine, Clock()))
    assert unknown.status_code == 401 and "no account for newcomer@example.org" in unknown.text
    # Only when configured: an account (with no brand) is created for a verified email.
    monkeypatch.setenv("EARFUL_OIDC_CREATE_USERS", "true")
    get_settings.cache_clear()
    fresh = Browser(engine, Clock())
    assert round_trip(fresh).status_code == 303 and fresh.get("/account").status_code == 200
    with transaction(engine) as s:
        user = s.scalars(select(User).where(User.email == "newcomer@example.org")).one()
        assert user.name == "Alice from the IdP"


def test_oidc_then_the_second_factor(engine: Engine, world: World, provider: FakeOidc) -> None:
    clock = Clock()
    b = Browser(engine, clock)
    b.password("bob")
    assert (
        b.post_form("/account", "/brands/bolt/sign-in-policy", require_totp="true").status_code
        == 303
    )
    provider.email = "bob@example.org"
    fresh = Browser(engine, clock, address="198.51.100.4")
    step = round_trip(fresh)
    assert step.status_code == 303 and step.headers["location"].startswith("/login/enrol")
    assert not fresh.signed_in()


def test_without_settings_there_is_no_oidc(engine: Engine, world: World) -> None:
    get_settings.cache_clear()
    b = Browser(engine, Clock())
    assert "Sign in with" not in b.get("/login").text
    assert b.get("/login/oidc").status_code == 404
