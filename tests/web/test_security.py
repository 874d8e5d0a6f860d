"""401 / 403 / 404, CSRF, sessions, XSS escaping, query counts, the collision hold."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, event, func, select

from earful.conversations import repository as conversations_repo
from earful.db import transaction
from earful.models import Base, ConversationState, Note, Reply, ReplyStatus
from tests.web.world import PASSWORD, SECRET_B, World, add_conversation, client, login


def notes(engine: Engine) -> int:
    with engine.connect() as conn:
        # Brand B's world has one note already; count the others.
        q = select(func.count()).select_from(Note).where(Note.text != SECRET_B)
        return int(conn.scalar(q) or 0)


# ------------------------------------------------------------------ 401


def test_unauthenticated_gets_401_or_login(engine: Engine, world: World) -> None:
    c = client(engine)
    conv = world.convs_a[0]
    r = c.get("/inbox", headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert c.get("/api/v1/conversations").status_code == 401
    assert c.get(f"/api/v1/conversations/{conv}").status_code == 401
    r = c.get("/api/v1/me", headers={"Authorization": "Bearer ef_nope"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    # An unsafe request without a session is refused before it can change anything.
    r = c.post(f"/api/v1/conversations/{conv}/notes", json={"text": "x"})
    assert r.status_code in (401, 403)
    assert notes(engine) == 0


def test_wrong_password_and_tampered_session(engine: Engine, world: World) -> None:
    c = client(engine)
    page = c.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    r = c.post(
        "/login", data={"email": "alice@example.org", "password": "nope", "csrf_token": token}
    )
    assert r.status_code == 401 and "Wrong email or password" in r.text
    c.cookies.set("earful_session", "forged.value.sig", domain="testserver")
    assert c.get("/api/v1/me").status_code == 401


def test_login_keeps_next_local(engine: Engine, world: World) -> None:
    c = client(engine)
    page = c.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    r = c.post(
        "/login",
        data={
            "email": "alice@example.org",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/steal",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/inbox"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "secure" in cookie and "samesite=lax" in cookie


def test_logout_ends_the_session(engine: Engine, world: World) -> None:
    c = client(engine)
    csrf = login(c, "alice")
    c.post("/logout", data={"csrf_token": csrf})
    assert c.get("/api/v1/me").status_code == 401


# ------------------------------------------------------------------ 403 / 404


def test_viewer_cannot_change_anything(engine: Engine, world: World) -> None:
    c = client(engine)
    csrf = login(c, "viewer")
    conv = world.convs_a[0]
    h = {"X-CSRF-Token": csrf}
    assert c.get(f"/c/{conv}").status_code == 200
    assert (
        c.post(f"/api/v1/conversations/{conv}/notes", json={"text": "x"}, headers=h).status_code
        == 403
    )
    assert (
        c.post(
            f"/api/v1/conversations/{conv}/assign", json={"assignee": "me"}, headers=h
        ).status_code
        == 403
    )
    r = c.post(f"/api/v1/conversations/{conv}/replies", json={"text": "x", "version": 1}, headers=h)
    assert r.status_code == 403
    assert (
        c.post(f"/c/{conv}/status", data={"status": "resolved", "csrf_token": csrf}).status_code
        == 403
    )
    assert notes(engine) == 0


def test_agent_cannot_manage_canned_replies(engine: Engine, world: World) -> None:
    c = client(engine)
    csrf = login(c, "agent")
    r = c.post(
        f"/brands/{world.slug_a}/canned", data={"name": "n", "body": "b", "csrf_token": csrf}
    )
    assert r.status_code == 403
    r = c.post(f"/canned/{world.canned_a}/delete", data={"csrf_token": csrf})
    assert r.status_code == 403


def test_assignee_must_belong_to_the_brand(engine: Engine, world: World) -> None:
    c = client(engine)
    csrf = login(c, "alice")
    r = c.post(
        f"/api/v1/conversations/{world.convs_a[0]}/assign",
        json={"assignee": str(world.users["bob"])},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 404


# ------------------------------------------------------------------ CSRF


def test_csrf_is_required_on_every_unsafe_request(engine: Engine, world: World) -> None:
    c = client(engine)
    csrf = login(c, "alice")
    conv = world.convs_a[0]
    assert c.post(f"/c/{conv}/notes", data={"text": "x"}).status_code == 403
    assert c.post(f"/c/{conv}/notes", data={"text": "x", "csrf_token": "forged"}).status_code == 403
    r = c.post(f"/api/v1/conversations/{conv}/notes", json={"text": "x"})
    assert r.status_code == 403
    r = c.post("/login", data={"email": "alice@example.org", "password": PASSWORD})
    assert r.status_code == 403
    assert notes(engine) == 0
    r = c.post(f"/c/{conv}/notes", data={"text": "ok", "csrf_token": csrf})
    assert r.status_code == 200 and notes(engine) == 1
    # A bearer token is not ambient authority: no CSRF token needed.
    r = c.post(
        f"/api/v1/conversations/{conv}/notes",
        json={"text": "from an integration"},
        headers={"Authorization": f"Bearer {world.token_a}"},
    )
    assert r.status_code == 201 and notes(engine) == 2


# ------------------------------------------------------------------ XSS


HOSTILE = [
    "<script>window.__pwned=1</script>",
    '<img src=x onerror="window.__pwned=1">',
    '<a href="javascript:window.__pwned=1">click</a>',
    "\u202egnp.exe",
]


def test_hostile_text_renders_escaped(engine: Engine, world: World) -> None:
    with transaction(engine) as s:
        ids = [
            add_conversation(s, world.brand_a, 100 + i, f"flight {t}", f"<b>{t}</b>")
            for i, t in enumerate(HOSTILE)
        ]
        conversations_repo.refresh_states(s, ids)
    c = client(engine)
    csrf = login(c, "alice")
    c.post(f"/c/{ids[0]}/notes", data={"text": HOSTILE[0], "csrf_token": csrf})
    pages = [c.get("/inbox").text] + [c.get(f"/c/{i}").text for i in ids]
    for html in pages:
        assert "<script>window" not in html
        assert "<img src=x" not in html
        assert 'href="javascript:' not in html
        assert "<b>" not in html
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in pages[1]
    # The ingest drops the override from the post: the subject reads "flight gnp.exe". The
    # author's name keeps it, isolated in its <bdi>.
    assert "<bdi>flight gnp.exe</bdi>" in pages[0]
    assert "<bdi>&lt;b&gt;\u202egnp.exe&lt;/b&gt;</bdi>" in pages[0]
    headers = c.get("/inbox").headers
    assert "script-src 'self'" in headers["content-security-policy"]


# ------------------------------------------------------------------ query counts


@contextmanager
def count_queries(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def before(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def test_inbox_query_count_is_fixed(sqlite_engine: Engine, sqlite_world: World) -> None:
    c = client(sqlite_engine)
    login(c, "alice")
    c.get("/inbox")
    with count_queries(sqlite_engine) as small:
        assert c.get("/inbox").status_code == 200
    with transaction(sqlite_engine) as s:
        ids = [
            add_conversation(s, sqlite_world.brand_a, 200 + i, "late", f"x{i}") for i in range(40)
        ]
        conversations_repo.refresh_states(s, ids)
    with count_queries(sqlite_engine) as big:
        assert c.get("/inbox?q=late").status_code == 200
    with count_queries(sqlite_engine) as api:
        assert c.get("/api/v1/conversations").status_code == 200
    # principal, rows, SLA targets, tags, brands, saved views, tag list (+ open alerts)
    assert len(small) == 7 + ("alerts" in Base.metadata.tables), small
    assert len(big) == len(small)
    assert len(api) == 4, api
    with count_queries(sqlite_engine) as conv:
        assert c.get(f"/c/{sqlite_world.convs_a[0]}").status_code == 200
    # A fixed set, however long the thread: session + principal, conversation, state, brand,
    # posts, queries, identities, tags, team, others, link suggestions, SLA targets, earlier
    # conversations, notes, replies, saved replies, label corrections.
    assert len(conv) <= 17, conv


# ------------------------------------------------------------------ collision hold


def test_reply_is_held_when_the_conversation_changed(engine: Engine, world: World) -> None:
    conv = world.convs_a[0]
    first, second = client(engine), client(engine)
    csrf1 = login(first, "alice")
    csrf2 = login(second, "agent")
    seen = first.get(f"/api/v1/conversations/{conv}").json()["summary"]["version"]
    # The second agent replies first; the first agent's reply, written on what it saw, is held.
    r = second.post(
        f"/api/v1/conversations/{conv}/replies",
        json={"text": "on it", "version": seen},
        headers={"X-CSRF-Token": csrf2},
    )
    assert r.json()["held"] is False
    r = first.post(
        f"/api/v1/conversations/{conv}/replies",
        json={"text": "me too", "version": seen},
        headers={"X-CSRF-Token": csrf1},
    )
    body = r.json()
    assert body["held"] is True and body["reply"]["status"] == "held"
    page = first.get(f"/c/{conv}").text
    assert "Held: the conversation changed after you opened it" in page
    with engine.connect() as c:
        statuses = sorted(s.value for s in c.scalars(select(Reply.status)).all())
    assert statuses == sorted(["held", "held", "queued"])  # world has one held of brand B
    # Releasing with a stale version is refused; with the current one it is queued.
    held_id = body["reply"]["id"]
    r = first.post(
        f"/api/v1/replies/{held_id}/send", json={"version": seen}, headers={"X-CSRF-Token": csrf1}
    )
    assert r.status_code == 409
    r = first.post(
        f"/api/v1/replies/{held_id}/send",
        json={"version": body["version"]},
        headers={"X-CSRF-Token": csrf1},
    )
    assert r.status_code == 200 and r.json()["reply"]["status"] == "queued"


def test_new_customer_post_bumps_the_version(sqlite_engine: Engine, sqlite_world: World) -> None:
    conv = sqlite_world.convs_a[0]
    with transaction(sqlite_engine) as s:
        before = s.get(ConversationState, conv)
        assert before is not None
        version = before.version
        conversations_repo.refresh_states(s, [conv])
    with transaction(sqlite_engine) as s:
        after = s.get(ConversationState, conv)
        assert after is not None and after.version == version + 1
    assert ReplyStatus.HELD.value == "held"


def test_a_browser_without_a_session_lands_on_the_login_page_and_comes_back(
    engine: Engine, world: World
) -> None:
    """Whatever the Accept header (a bookmark, a link from an email), a page asks to log in
    and returns to the same page, query and all; an htmx fragment returns to its page."""
    c = client(engine)
    for accept in ("*/*", "text/html,application/xhtml+xml,*/*;q=0.8"):
        r = c.get("/inbox?status=waiting", headers={"Accept": accept}, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"] == "/login?next=%2Finbox%3Fstatus%3Dwaiting"
    r = c.get(
        "/inbox/list",
        headers={"HX-Request": "true", "HX-Current-URL": "https://testserver/inbox?q=late"},
    )
    assert r.status_code == 401
    assert r.headers["hx-redirect"] == "/login?next=%2Finbox%3Fq%3Dlate"
    page = c.get("/login?next=%2Finbox%3Fstatus%3Dwaiting")
    assert 'value="/inbox?status=waiting"' in page.text
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    r = c.post(
        "/login",
        data={
            "email": "alice@example.org",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "/inbox?status=waiting",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/inbox?status=waiting"


def test_a_dead_link_or_a_broken_form_gives_a_page_a_person_can_read(
    sqlite_engine: Engine, sqlite_world: World
) -> None:
    """A mistyped address or a form missing a field shows the desk's own error page with
    a way back; an API client still gets JSON."""
    c = client(sqlite_engine)
    csrf = login(c, "alice")
    page = {"accept": "text/html"}
    missing = c.get("/no/such/page", headers=page)
    assert missing.status_code == 404
    assert "There is no page at this address" in missing.text and 'href="/inbox"' in missing.text
    api = c.get("/api/v1/no/such/thing", headers={"accept": "application/json"})
    assert api.status_code == 404 and api.json() == {"detail": "Not Found"}
    conv = sqlite_world.convs_a[0]
    broken = c.post(f"/c/{conv}/notes", data={"csrf_token": csrf}, headers=page)
    assert broken.status_code == 422
    assert "Check these fields and try again: text." in broken.text
    api_broken = c.post(
        f"/api/v1/conversations/{conv}/notes", json={}, headers={"x-csrf-token": csrf}
    )
    assert api_broken.status_code == 422 and api_broken.json()["detail"][0]["loc"][-1] == "text"
