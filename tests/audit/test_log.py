"""The audit log as a brand admin reads it: each action of a working day, who, when and
from where, in order; never the customer's words; readable by admins of that brand only."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import Engine, select

from earful.audit import repository
from earful.db import transaction
from earful.models import AuditEvent
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
    agent.post(f"/c/{conv}/status", data={**post, "status": "resolved"})
    # A wrong password for the agent's account is logged too (with its address).
    fresh = client(engine)
    token = fresh.get("/login").text.split('name="csrf_token" value="')[1].split('"')[0]
    fresh.post("/login", data={"email": "agent@example.org", "password": "nope",
                               "csrf_token": token})  # fmt: skip

    logged = actions(engine, world.brand_a)
    mine = [(a, t) for a, who, t in logged if who == "agent@example.org"]
    assert mine == [
        ("auth.sign_in", None),
        ("conversation.assign", f"conversation:{conv}"),
        ("conversation.note", f"conversation:{conv}"),
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
    assert not any("4111" in t for t in texts)  # the note's words are not in the log
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
