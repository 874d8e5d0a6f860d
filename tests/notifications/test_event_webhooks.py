"""Outgoing event webhooks: an admin adds an endpoint (the secret shown once); conversation
events reach a real HTTP receiver that checks the HMAC signature and deduplicates on the
event id; failures are retried with the same id, a failing endpoint is suspended, shown
to the admins, and resumed with nothing lost and nothing sent twice."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import Engine, select

from earful.conversations import repository as conversations_repo
from earful.db import transaction
from earful.engagement.service import reply
from earful.models import Brand, JobKind, WebhookEndpoint
from earful.notifications.dispatch import SUSPEND_AFTER
from earful.notifications.service import add_endpoint
from tests.engagement.helpers import complaint, mastodon_actors
from tests.fakes.network import FakeNetwork
from tests.fakes.network import serve as serve_network
from tests.handoff.fake_smtp import Catcher, smtp_server
from tests.notifications.helpers import SECRET_KEY, desk, run_until_settled
from tests.protocol.fake_chat import EventReceiver
from tests.protocol.server import serve
from tests.web.world import World, add_conversation, build_world, client, login

EVENTS = (JobKind.EVENT,)


@pytest.fixture
def world(engine: Engine) -> World:
    return build_world(engine)


def test_conversation_events_are_signed_and_sent_once(
    engine: Engine, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = EventReceiver()
    c = client(engine)
    csrf = login(c, "alice")
    h = {"X-CSRF-Token": csrf}
    with serve(receiver) as host, smtp_server(Catcher()) as port:
        r = c.post(f"/api/v1/brands/{world.slug_a}/webhooks",
                   json={"url": f"http://{host}/earful"}, headers=h)  # fmt: skip
        assert r.status_code == 201, r.text
        created = r.json()
        receiver.secret = created["secret"]
        assert created["secret"].startswith("whsec_") and len(created["events"]) == 5
        listed = c.get(f"/api/v1/brands/{world.slug_a}/webhooks").json()
        assert "secret" not in listed[0] and created["secret"] not in str(listed)
        with transaction(engine) as s:  # only its sealed form is stored
            sealed = s.scalars(select(WebhookEndpoint.secret_sealed)).one()
        assert created["secret"] not in sealed

        with transaction(engine) as s:  # a new customer post: a conversation is created
            conv = add_conversation(s, world.brand_a, 50, "where is my bag", "carla")
            conversations_repo.refresh_states(s, [conv])
        assert c.post(f"/api/v1/conversations/{conv}/assign", json={"assignee": "me"},
                      headers=h).status_code == 200  # fmt: skip
        r = c.post(f"/c/{conv}/handoff", headers=h, data={
            "channel": "email", "address": "carla@example.org", "message": "Details?"})  # fmt: skip
        assert r.status_code == 200, r.text
        assert c.post(f"/api/v1/conversations/{conv}/status", json={"status": "resolved"},
                      headers=h).status_code == 200  # fmt: skip
        receiver.fail_times = 2  # the first deliveries meet a 503: retried, same event id
        out = desk(engine, monkeypatch, port)
        run_until_settled(out, EVENTS)
        run_until_settled(out, EVENTS)  # a second look finds nothing new

    assert receiver.refused == 0
    kinds = Counter(e["type"] for e in receiver.events.values())
    assert kinds == {
        "conversation.created": 1, "conversation.assigned": 1,
        "conversation.handed_off": 1, "conversation.resolved": 1,
    }  # fmt: skip
    assert receiver.deliveries == 4 + 2  # two 503s retried
    doc = next(e for e in receiver.events.values() if e["type"] == "conversation.assigned")
    assert doc["brand"] == {"id": world.brand_a, "slug": "acme", "name": "Acme Air"}
    summary = doc["conversation"]
    assert summary["id"] == conv and summary["subject"] == "where is my bag"
    assert summary["customer"] == {"network": "bluesky", "handle": "carla"}
    assert summary["assignee"] == {"id": world.users["alice"], "name": "Alice"}
    assert summary["url"] == f"https://desk.example/c/{conv}"
    assert doc["data"] == {"assignee_id": world.users["alice"]}
    handed = next(e for e in receiver.events.values() if e["type"] == "conversation.handed_off")
    assert handed["data"] == {"channel": "email"}
    assert "carla@example.org" not in str(receiver.events)  # no email addresses


def test_a_failing_endpoint_is_suspended_shown_and_resumed_without_loss(
    engine: Engine, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = EventReceiver(secret="not-the-secret")  # refuses our signature: 401
    c = client(engine)
    csrf = login(c, "alice")
    with serve(receiver) as host, smtp_server(Catcher()) as port:
        form = {"csrf_token": csrf, "url": f"http://{host}/in", "events": ["conversation.created"]}
        page = c.post(f"/brands/{world.slug_a}/webhooks", data=form)
        assert page.status_code == 200 and "shown this once" in page.text
        secret = page.text.split("<code>")[1].split("</code>")[0]
        assert secret not in c.get(f"/brands/{world.slug_a}/webhooks").text
        out = desk(engine, monkeypatch, port)
        convs = []
        for i in range(SUSPEND_AFTER + 2):
            with transaction(engine) as s:
                convs.append(add_conversation(s, world.brand_a, 60 + i, f"broken {i}", f"u{i}"))
            run_until_settled(out, EVENTS)
        assert receiver.refused == SUSPEND_AFTER  # refused once each (401: not retried)
        page = c.get(f"/brands/{world.slug_a}/webhooks").text
        assert "suspended after 3 failures" in page and "receiver refused" in page.lower()

        receiver.secret = secret  # the integrator fixes their side; the admin resumes
        with transaction(engine) as s:
            hook_id = s.scalars(select(WebhookEndpoint.id)).one()
        r = c.post(f"/brands/{world.slug_a}/webhooks/{hook_id}",
                   data={"csrf_token": csrf, "action": "resume"})  # fmt: skip
        assert r.status_code == 200 and "5 missed deliveries queued again" in r.text
        run_until_settled(out, EVENTS)
        run_until_settled(out, EVENTS)
    got = sorted(e["conversation"]["id"] for e in receiver.events.values())
    assert got == sorted(convs) and receiver.deliveries == len(convs)
    assert "delivering" in c.get(f"/brands/{world.slug_a}/webhooks").text


def test_bad_endpoints_are_refused_and_other_brands_hidden(engine: Engine, world: World) -> None:
    c = client(engine)
    csrf = login(c, "alice")
    h = {"X-CSRF-Token": csrf}
    for body, why in [
        ({"url": "javascript:alert(1)"}, "http(s) URL"),
        ({"url": "https://x.example", "events": ["post.liked"]}, "event types are"),
    ]:
        r = c.post(f"/api/v1/brands/{world.slug_a}/webhooks", json=body, headers=h)
        assert r.status_code == 400 and why in r.text
    assert c.get(f"/api/v1/brands/{world.slug_a}/webhooks").json() == []
    agent = client(engine)
    agent_csrf = login(agent, "agent")
    r = agent.post(f"/api/v1/brands/{world.slug_a}/webhooks", json={"url": "https://x.example"},
                   headers={"X-CSRF-Token": agent_csrf})  # fmt: skip
    assert r.status_code == 403


def test_a_sent_reply_is_a_replied_event(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reply goes out through the Mastodon connector to the fake network; once the
    worker has marked it sent, the endpoint hears of it (with the reply's text and URL)."""
    engine, receiver, network = sqlite_engine, EventReceiver(), FakeNetwork()
    with (
        serve_network(network) as base_url,
        serve(receiver) as host,
        smtp_server(Catcher()) as port,
    ):
        d = complaint(engine, network, base_url)
        with transaction(engine) as s:
            brand = s.get(Brand, d.brand_id)
            assert brand is not None
            _, receiver.secret = add_endpoint(
                s, None, brand, f"http://{host}/in", ["conversation.replied"], SECRET_KEY
            )
            reply(s, d.agent, d.conv_id, "So sorry, Alice: DM us your booking code?")
        out = desk(engine, monkeypatch, port)
        out.worker.actors = mastodon_actors(base_url)
        run_until_settled(out, (JobKind.REPLY, JobKind.EVENT))
        run_until_settled(out, (JobKind.REPLY, JobKind.EVENT))
    [doc] = receiver.events.values()
    assert doc["type"] == "conversation.replied" and doc["conversation"]["id"] == d.conv_id
    assert doc["data"]["reply"]["network"] == "mastodon"
    assert doc["data"]["reply"]["text"].startswith("So sorry, Alice")
    assert doc["data"]["reply"]["url"]
