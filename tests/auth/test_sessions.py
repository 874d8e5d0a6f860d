"""Server-side sessions over HTTP: listed with when, where and which browser; one revoked,
all others revoked, a member's revoked by a brand admin, logout; each revoked cookie is
refused on its very next request, even replayed by hand."""

from __future__ import annotations

import re

from sqlalchemy import Engine, select

from earful.db import transaction
from earful.models import AuditEvent, UserSession
from earful.web.security import SESSION_COOKIE
from tests.auth.helpers import Browser, Clock
from tests.web.world import World

REVOKE = re.compile(r'action="/account/sessions/(\d+)/revoke"')


def test_sessions_are_listed_and_revoked_at_once(engine: Engine, world: World) -> None:
    clock = Clock()
    laptop = Browser(engine, clock, address="203.0.113.7", agent="Laptop/1.0 <b>")
    phone = Browser(engine, clock, address="198.51.100.4", agent="Phone/2.0")
    tablet = Browser(engine, clock, address="198.51.100.5", agent="Tablet/3.0")
    for b in (laptop, phone, tablet):
        assert b.password("alice").status_code == 303
    page = laptop.get("/account/sessions").text
    assert "198.51.100.4" in page and "Phone/2.0" in page and "Tablet/3.0" in page
    assert "Laptop/1.0 &lt;b&gt;" in page  # escaped like all page text
    assert "this browser" in page
    others = REVOKE.findall(page)
    assert len(others) == 2  # the current session has no revoke button
    # Revoke the phone: its next request is refused.
    with transaction(engine) as s:
        phone_id = s.scalar(select(UserSession.id).where(UserSession.user_agent == "Phone/2.0"))
    r = laptop.post_form("/account/sessions", f"/account/sessions/{phone_id}/revoke")
    assert r.status_code == 303
    assert not phone.signed_in() and laptop.signed_in() and tablet.signed_in()
    # Another user's session id is not found.
    bob = Browser(engine, clock, address="192.0.2.1")
    bob.password("bob")
    with transaction(engine) as s:
        bobs = s.scalar(select(UserSession.id).where(UserSession.user_id == world.users["bob"]))
    assert laptop.post_form("/account", f"/account/sessions/{bobs}/revoke").status_code == 404
    assert bob.signed_in()
    # Everywhere else: the tablet goes, the laptop stays.
    r = laptop.post_form("/account/sessions", "/account/sessions/revoke-others")
    assert r.status_code == 303 and "1%20other" in r.headers["location"]
    assert not tablet.signed_in() and laptop.signed_in()
    with transaction(engine) as s:
        actions = list(s.scalars(select(AuditEvent.action)))
    assert "auth.session_revoked" in actions and "auth.sessions_revoked" in actions


def test_a_logged_out_cookie_replayed_is_refused(engine: Engine, world: World) -> None:
    clock = Clock()
    b = Browser(engine, clock)
    b.password("alice")
    stolen = b.c.cookies.get(SESSION_COOKIE)
    assert stolen and b.signed_in()
    assert b.post_form("/account", "/logout").status_code == 303
    thief = Browser(engine, clock, address="192.0.2.66")
    thief.c.cookies.set(SESSION_COOKIE, stolen)
    assert thief.get("/inbox").status_code == 303  # to the login page
    assert thief.c.get("/api/v1/me").status_code == 401
    with transaction(engine) as s:
        assert not s.scalars(select(UserSession)).all()


def test_last_seen_is_noted_at_most_once_a_minute(engine: Engine, world: World) -> None:
    clock = Clock()
    b = Browser(engine, clock)
    b.password("alice")
    start = clock()
    clock.advance(30)
    b.get("/inbox")
    with transaction(engine) as s:
        assert s.scalars(select(UserSession.last_seen_at)).one() == start
    clock.advance(45)
    b.get("/inbox")
    with transaction(engine) as s:
        assert s.scalars(select(UserSession.last_seen_at)).one() == clock()


def test_a_brand_admin_signs_a_member_out_and_unlocks_them(engine: Engine, world: World) -> None:
    clock = Clock()
    admin = Browser(engine, clock)
    admin.password("alice")
    agent = Browser(engine, clock, address="198.51.100.4")
    agent.password("agent")
    member = world.users["agent"]
    team = admin.get("/brands/acme/settings").text  # the buttons are on the team section
    assert f"/brands/acme/members/{member}/sessions/revoke" in team
    assert f"/brands/acme/members/{member}/unlock" in team and "Require a second factor" in team
    # Only an admin of the member's brand: an agent is refused, another brand's admin
    # does not see the brand.
    assert (
        agent.post_form("/account", f"/brands/acme/members/{member}/sessions/revoke").status_code
        == 403
    )
    bob = Browser(engine, clock, address="192.0.2.1")
    bob.password("bob")
    assert (
        bob.post_form("/account", f"/brands/acme/members/{member}/sessions/revoke").status_code
        == 404
    )
    assert (
        bob.post_form("/account", f"/brands/bolt/members/{member}/sessions/revoke").status_code
        == 404
    )
    assert agent.signed_in()
    r = admin.post_form("/account", f"/brands/acme/members/{member}/sessions/revoke")
    assert r.status_code == 303 and "/brands/acme/settings" in r.headers["location"]
    assert not agent.signed_in() and admin.signed_in()
    # Locked out by guessing, let back in by the admin.
    guesser = Browser(engine, clock, address="192.0.2.99")
    codes = [guesser.password("agent", f"guess-{i}").status_code for i in range(6)]
    assert codes[-1] == 429
    assert admin.post_form("/account", f"/brands/acme/members/{member}/unlock").status_code == 303
    assert Browser(engine, clock, address="192.0.2.98").password("agent").status_code == 303
    with transaction(engine) as s:
        events = {
            e.action: e.brand_id
            for e in s.scalars(select(AuditEvent).where(AuditEvent.user_id == world.users["alice"]))
        }
    assert events["auth.member_sessions_revoked"] == world.brand_a
    assert events["auth.unlock"] == world.brand_a
