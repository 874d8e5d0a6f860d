"""The audit log as a brand admin reads it: each action of a working day, who, when and
from where, in order; never the customer's words; readable by admins of that brand only;
append-only in the database itself."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import Engine, select
from sqlalchemy import text as sql
from sqlalchemy.exc import DBAPIError

from earful.audit import repository
from earful.db import transaction
from earful.models import AuditEvent, Reply
from tests.web.world import PASSWORD, SECRET_B, World, client, login


def actions(engine: Engine, brand_id: int) -> list[tuple[str, str, str | None]]:
    with transaction(engine) as s:
        rows = s.scalars(
            select(AuditEvent).where(AuditEvent.brand_id == brand_id).order_by(AuditEvent.id)
        )
        return [(e.action, e.actor, e.target) for e in rows]


def test_a_working_session_is_logged_for_the_brand_admins(engine: Engine, world: World) -> None:
    agent = client(engine)
    csrf = login(agent, "agent")
    conv = world.convs_a[0]
    post = {"csrf_token": csrf}
    assert agent.post(f"/c/{conv}/assign", data={**post, "assignee": "me"}).status_code == 200
    agent.post(f"/c/{conv}/notes", data={**post, "text": "customer card 4111 1111"})
    r = agent.post(f"/c/{conv}/reply", data={**post, "text": "Card 4111? On it", "version": "1"})
    assert r.status_code == 200, r.text
    handoff = {"channel": "email", "address": "anna.private@example.org", "message": "card 4111"}
    r = agent.post(f"/c/{conv}/handoff", data={**post, **handoff})
    assert r.status_code == 200, r.text
    agent.post(f"/c/{conv}/status", data={**post, "status": "resolved"})
    # A wrong password for the agent's account is logged too (with its address).
    fresh = client(engine)
    token = fresh.get("/login").text.split('name="csrf_token" value="')[1].split('"')[0]
    fresh.post("/login", data={"email": "agent@example.org", "password": "nope",
                               "csrf_token": token})  # fmt: skip

    logged = actions(engine, world.brand_a)
    with transaction(engine) as s:
        reply_id = s.scalars(select(Reply.id).where(Reply.conversation_id == conv)).one()
    mine = [(a, t) for a, who, t in logged if who == "agent@example.org"]
    assert mine == [
        ("auth.sign_in", None),
        ("conversation.assign", f"conversation:{conv}"),
        ("conversation.note", f"conversation:{conv}"),
        ("reply.queue", f"reply:{reply_id}"),
        ("conversation.handoff", f"conversation:{conv}"),
        ("conversation.status", f"conversation:{conv}"),
        ("auth.sign_in_failed", None),
    ]
    with transaction(engine) as s:
        texts = [str(e.details) + (e.target or "") for e in repository.events(s, [world.brand_a])]
        addresses = {
            e.address
            for e in repository.events(s, [world.brand_a])
            if e.actor == "agent@example.org"
        }
    # Neither the note's, the reply's nor the handoff's words, nor the address, are logged.
    assert not any("4111" in t or "anna.private" in t for t in texts)
    assert addresses == {"testclient"}
    # Brand A's work is not in B's log (which holds only its admin's token).
    assert actions(engine, world.brand_b) == [("token.create", "bob@example.org", None)]

    admin = client(engine)
    login(admin, "alice")
    page = admin.get(f"/brands/{world.slug_a}/audit")
    assert page.status_code == 200
    assert "conversation.assign" in page.text and "agent@example.org" in page.text
    api = admin.get(f"/api/v1/brands/{world.slug_a}/audit").json()
    assert [e["action"] for e in api][:2] == ["auth.sign_in", "auth.sign_in_failed"]
    exported = admin.get(f"/brands/{world.slug_a}/audit.csv")
    assert exported.headers["content-disposition"].endswith('acme-audit.csv"')
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {r["action"] for r in rows} >= {"conversation.assign", "conversation.status"}
    assert "status=resolved" in {r["details"] for r in rows}
    # The export itself is logged.
    assert actions(engine, world.brand_a)[-1][0] == "audit.export"


@pytest.mark.parametrize(("who", "status"), [("agent", 403), ("viewer", 403), ("bob", 404)])
def test_only_the_brands_admins_read_its_log(
    engine: Engine, world: World, who: str, status: int
) -> None:
    c = client(engine)
    login(c, who)
    for url in (
        f"/brands/{world.slug_a}/audit",
        f"/brands/{world.slug_a}/audit.csv",
        f"/api/v1/brands/{world.slug_a}/audit",
    ):
        r = c.get(url)
        assert r.status_code == status, url
        assert "conversation." not in r.text and SECRET_B not in r.text


def test_details_that_could_hold_free_text_are_refused(engine: Engine) -> None:
    with transaction(engine) as s, pytest.raises(ValueError, match="text"):
        repository.record(s, action="x", actor="cli", details={"text": PASSWORD})


def test_the_database_keeps_the_log_append_only(engine: Engine, world: World) -> None:
    """Whoever connects cannot change or delete an event; a deleted user's events stay
    (with the email of the time), a deleted brand's events go with it."""
    viewer = client(engine)
    login(viewer, "viewer")  # auth.sign_in in brand A's log
    admin = client(engine)
    csrf = login(admin, "alice")
    created = admin.post("/brands", data={"csrf_token": csrf, "slug": "gone", "name": "Gone"})
    assert created.status_code == 200
    before = actions(engine, world.brand_a)
    for statement in (
        "UPDATE audit_events SET action = 'nothing.happened'",
        "UPDATE audit_events SET address = NULL",
        "DELETE FROM audit_events",
        f"DELETE FROM audit_events WHERE brand_id = {world.brand_a}",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sql(statement))
    assert actions(engine, world.brand_a) == before

    with engine.begin() as conn:
        conn.execute(sql("DELETE FROM users WHERE id = :id"), {"id": world.users["viewer"]})
        gone = conn.scalar(sql("SELECT id FROM brands WHERE slug = 'gone'"))
        assert conn.scalar(sql(f"SELECT count(*) FROM audit_events WHERE brand_id = {gone}"))
        conn.execute(sql("DELETE FROM brands WHERE id = :id"), {"id": gone})
        assert not conn.scalar(sql(f"SELECT count(*) FROM audit_events WHERE brand_id = {gone}"))
    assert actions(engine, world.brand_a) == before  # the viewer's sign-in is still there
    with transaction(engine) as s:
        signed_in = s.scalars(
            select(AuditEvent).where(AuditEvent.actor == "viewer@example.org")
        ).one()
        assert signed_in.action == "auth.sign_in" and signed_in.user_id is None
