"""The request's transaction: one commit at the edge, a rollback on any error, live events
only after the commit, and every domain error rendered by the one handler."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from earful.brands.service import create_brand
from earful.db import after_commit
from earful.errors import Conflict
from earful.listening.parser import parse
from earful.models import Note
from earful.web.app import create_app
from earful.web.deps import Db, require_principal
from earful.web.hub import Hub, publish_change
from tests.web.world import World, client, login


class RecordingHub(Hub):
    """The real hub, noting for each event whether its change was already committed."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self.events: list[tuple[int, str, str, int]] = []

    def publish(
        self, brand_id: int, event: str, data: str, conversation: int | None = None
    ) -> None:
        with self.engine.connect() as conn:  # another connection: sees committed rows only
            committed_notes = int(conn.scalar(select(func.count()).select_from(Note)) or 0)
        self.events.append((brand_id, event, data, committed_notes))
        super().publish(brand_id, event, data, conversation)


def note_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(Note)) or 0)


def test_a_change_is_published_only_after_it_is_committed(engine: Engine, world: World) -> None:
    c = client(engine)
    hub = RecordingHub(engine)
    c.app.state.hub = hub  # type: ignore[attr-defined]
    csrf = login(c, "agent")
    before = note_count(engine)
    conv = world.convs_a[0]
    r = c.post(
        f"/c/{conv}/notes",
        data={"text": "called the customer back", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert note_count(engine) == before + 1
    events = [(b, e, d) for b, e, d, _ in hub.events]
    assert (world.brand_a, "inbox", str(conv)) in events
    assert (world.brand_a, f"conv-{conv}", "note") in events
    # When each event went out, the note was already visible to another connection.
    assert all(committed == before + 1 for *_, committed in hub.events)


def test_an_error_rolls_back_the_whole_request_and_publishes_nothing(
    engine: Engine, world: World
) -> None:
    app = create_app(engine, secret_key="test-secret-key-0123456789abcdef", live=False)
    hub = RecordingHub(engine)
    app.state.hub = hub

    @app.post("/api/v1/test-half-done", dependencies=[Depends(require_principal)])
    def half_done(db: Db, request: Request) -> None:
        db.add(Note(conversation_id=world.convs_a[0], brand_id=world.brand_a, text="half"))
        db.flush()  # written, not committed
        publish_change(request, db, world.brand_a, world.convs_a[0], "note")
        after_commit(db, lambda: hub.events.append((0, "after", "commit", 0)))
        raise Conflict("the second half of this change failed")

    c = TestClient(app, base_url="https://testserver")
    before = note_count(engine)
    r = c.post(
        "/api/v1/test-half-done", headers={"Authorization": f"Bearer {world.token_a}"}, json={}
    )
    assert r.status_code == 409
    assert r.json() == {"detail": "the second half of this change failed"}
    assert note_count(engine) == before
    assert hub.events == []


def test_domain_errors_from_every_family_render_with_their_status(
    engine: Engine, world: World
) -> None:
    """A bad query, a duplicate brand: the domain's own errors, never a 500 or a 422."""
    app = create_app(engine, secret_key="test-secret-key-0123456789abcdef", live=False)
    auth = [Depends(require_principal)]

    @app.get("/api/v1/test-parse", dependencies=auth)
    def bad_query() -> None:
        parse("acme AND")

    @app.get("/api/v1/test-brand", dependencies=auth)
    def duplicate_brand(session: Db) -> None:
        create_brand(session, world.slug_a)

    c = TestClient(app, base_url="https://testserver", raise_server_exceptions=False)
    token = {"Authorization": f"Bearer {world.token_a}"}
    r = c.get("/api/v1/test-parse", headers=token)
    assert r.status_code == 400
    assert "column 9" in r.json()["detail"]
    r = c.get("/api/v1/test-brand", headers=token)
    assert r.status_code == 409 and world.slug_a in r.json()["detail"]
    html = c.get("/api/v1/test-parse", headers={**token, "Accept": "text/html"})
    assert html.status_code == 400
