"""Walk every route as a user of brand A: nothing of brand B is shown, changed or counted.

Routes are enumerated from the app, so a new route is covered without editing this test;
a route whose parameters this test cannot fill fails it, asking to be taught here.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from fastapi.routing import APIRoute
from sqlalchemy import Engine, func, select

from earful.db import transaction
from earful.models import (
    Alert,
    ApiToken,
    CannedReply,
    Conversation,
    ConversationPost,
    ConversationState,
    ConversationTag,
    Handoff,
    JobKind,
    JobState,
    LabelCorrection,
    LinkSuggestion,
    Note,
    NotificationTarget,
    OutboundJob,
    Reply,
    SavedView,
    Source,
    UserSession,
    WebhookEndpoint,
)
from earful.models.base import utcnow
from tests.web.world import SECRET_B, World, client, login

PARAM = re.compile(r"{(\w+)(?::\w+)?}")


def b_params(w: World) -> dict[str, str]:
    """Each path parameter filled with an id of brand B (or of its admin)."""
    return {
        "conv_id": str(w.convs_b[0]),
        "reply_id": str(w.reply_b),
        "canned_id": str(w.canned_b),
        "view_id": str(w.view_b),
        "token_id": str(w.token_b_id),
        "slug": w.slug_b,
        "tag": "btag",
        "identity_id": str(identity_of(w.engine, w.convs_b[0])),
        "fmt": "csv",
        "post_id": post_of_b(w),
    }


def identity_of(engine: Engine, conv_id: int) -> int:
    """The customer of a conversation (the data-request routes take their identity id)."""
    with engine.connect() as conn:
        found = conn.scalar(select(Conversation.identity_id).where(Conversation.id == conv_id))
        assert found is not None
        return int(found)


def post_of_b(w: World) -> str:
    """A post in brand B's first conversation (the label-correction routes take its id)."""
    with w.engine.connect() as conn:
        return str(
            conn.scalar(
                select(ConversationPost.post_id).where(
                    ConversationPost.conversation_id == w.convs_b[0]
                )
            )
        )


def alert_of_b(engine: Engine, w: World) -> str:
    """An open spike alert of brand B (the alert routes take its id)."""
    from tests.inbox.test_alerts import raise_alert

    raise_alert(engine, w.brand_b, 999)
    with engine.connect() as conn:
        return str(conn.scalar(select(func.max(Alert.id)).where(Alert.brand_id == w.brand_b)))


def suggestion_of_b(engine: Engine, w: World) -> tuple[str, str]:
    """An account of brand B's customer, and a suggested link between two of them."""
    from earful.customers.links import suggest

    with transaction(engine) as s:
        first, second = (s.get(Conversation, c) for c in w.convs_b[:2])
        assert first is not None and second is not None
        suggest(s, w.brand_b, first.identity_id, second.identity_id, SECRET_B)
        found = s.scalar(select(func.max(LinkSuggestion.id)))
        return str(first.identity_id), str(found)


def session_of_b(engine: Engine, w: World) -> str:
    """Brand B's admin signed in through the form: the id of his server-side session."""
    login(client(engine), "bob")
    with engine.connect() as conn:
        found = conn.scalar(
            select(func.max(UserSession.id)).where(UserSession.user_id == w.users["bob"])
        )
    return str(found)


def query_of_b(engine: Engine, w: World) -> str:
    """A listening query of brand B (the admin pages take its id)."""
    from earful.listening.service import add_query

    with transaction(engine) as s:
        return str(add_query(s, w.brand_b, "b-mentions", "bolt").id)


def source_of_b(engine: Engine, w: World) -> str:
    """A live source of brand B, its credentials sealed (the sources page takes its id)."""
    from earful.sources.service import add_source

    with transaction(engine) as s:
        added = add_source(s, kind="mastodon", name=f"b-{SECRET_B}", brand_id=w.brand_b,
                           settings={"access_token": SECRET_B}, secret_key="k" * 32)  # fmt: skip
        return str(added.id)


def job_of_b(engine: Engine, w: World) -> str:
    """A failed outbound job of brand B (the engagement routes take a job id)."""
    with transaction(engine) as s:
        job = OutboundJob(brand_id=w.brand_b, conversation_id=w.convs_b[0], kind=JobKind.REPLY,
                          network="mastodon", text=SECRET_B, idempotency_key="b-job",
                          state=JobState.FAILED, reason=SECRET_B, payload={})  # fmt: skip
        s.add(job)
        s.flush()
        return str(job.id)


def notifications_of_b(engine: Engine, w: World) -> tuple[str, str]:
    """An event webhook and a notification target of brand B (their routes take the ids)."""
    with transaction(engine) as s:
        hook = WebhookEndpoint(brand_id=w.brand_b, url=f"https://b.example/{SECRET_B}",
                               secret_sealed="x", events=["conversation.created"], failures=3,
                               last_error=SECRET_B, suspended_at=utcnow())  # fmt: skip
        target = NotificationTarget(brand_id=w.brand_b, user_id=w.users["bob"], channel="chat",
                                    address=f"https://chat.example/{SECRET_B}", events=["spike"],
                                    timezone="UTC", quiet_mode="hold", failures=3,
                                    suspended_at=utcnow())  # fmt: skip
        s.add_all([hook, target])
        s.flush()
        return str(hook.id), str(target.id)


def snapshot_b(engine: Engine, w: World) -> dict[str, Any]:
    with engine.connect() as conn:
        convs = conn.execute(
            select(Conversation.id, Conversation.status)
            .where(Conversation.brand_id == w.brand_b)
            .order_by(Conversation.id)
        ).all()
        states = conn.execute(
            select(
                ConversationState.conversation_id,
                ConversationState.version,
                ConversationState.assignee_id,
            )
            .where(ConversationState.brand_id == w.brand_b)
            .order_by(ConversationState.conversation_id)
        ).all()
        counts = {
            model.__name__: conn.scalar(
                select(func.count()).select_from(model).where(model.brand_id == w.brand_b)
            )
            for model in (
                Note,
                ConversationTag,
                Reply,
                CannedReply,
                OutboundJob,
                Handoff,
                LabelCorrection,
            )
        }
        jobs = conn.execute(
            select(OutboundJob.id, OutboundJob.state).where(OutboundJob.brand_id == w.brand_b)
        ).all()
        replies = conn.execute(select(Reply.id, Reply.status).where(Reply.brand_id == w.brand_b))
        views = conn.scalar(
            select(func.count()).select_from(SavedView).where(SavedView.user_id == w.users["bob"])
        )
        tokens = conn.scalar(
            select(func.count()).select_from(ApiToken).where(ApiToken.user_id == w.users["bob"])
        )
        alerts = conn.execute(
            select(Alert.id, Alert.acknowledged_at).where(Alert.brand_id == w.brand_b)
        ).all()
        sources = conn.execute(
            select(Source.id, Source.paused).where(Source.brand_id == w.brand_b)
        ).all()
        hooks = conn.execute(
            select(WebhookEndpoint.id, WebhookEndpoint.suspended_at).where(
                WebhookEndpoint.brand_id == w.brand_b
            )
        ).all()
        targets = conn.execute(
            select(NotificationTarget.id, NotificationTarget.suspended_at).where(
                NotificationTarget.brand_id == w.brand_b
            )
        ).all()
        sessions = conn.scalars(
            select(UserSession.id).where(UserSession.user_id == w.users["bob"])
        ).all()
        return {
            "sessions": list(sessions),
            "hooks": list(hooks),
            "targets": list(targets),
            "alerts": list(alerts),
            "convs": list(convs),
            "states": list(states),
            "counts": counts,
            "replies": list(replies),
            "jobs": list(jobs),
            "views": views,
            "tokens": tokens,
            "sources": list(sources),
        }


def body_for(route: APIRoute) -> dict[str, Any]:
    """A plausible, valid payload, so a wrong answer is not merely a 422."""
    if route.path.startswith("/api/"):
        return {
            "json": {
                "assignee": "me",
                "status": "resolved",
                "text": "hello",
                "tag": "x",
                "version": 1,
                "field": "sentiment",
                "value": "positive",
                "network": "bluesky",
                "account": "anna0",
            }
        }
    return {
        "data": {
            "assignee": "me",
            "status": "resolved",
            "text": "hello",
            "tag": "x",
            "version": "1",
            "name": "n",
            "body": "b",
            "field": "sentiment",
            "value": "positive",
            "network": "bluesky",
            "account": "anna0",
        }
    }


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every APIRoute, also inside included routers (FastAPI wraps those)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif (inner := getattr(route, "original_router", None)) is not None:
            found.extend(api_routes(list(inner.routes)))
    return found


def routes(app: Any) -> list[tuple[str, str, APIRoute]]:
    out = []
    for route in api_routes(list(app.routes)):
        for method in sorted(route.methods - {"HEAD"}):
            out.append((method, route.path, route))
    assert out, "no routes found"
    return out


def test_every_route_hides_brand_b(engine: Engine, world: World) -> None:
    c = client(engine)
    csrf = login(c, "alice")  # admin of A: the strongest role that is not B's
    params = b_params(world)
    params["job_id"] = job_of_b(engine, world)
    params["alert_id"] = alert_of_b(engine, world)
    params["member_id"] = str(world.users["bob"])
    params["query_id"] = query_of_b(engine, world)
    params["source_id"] = source_of_b(engine, world)
    params["endpoint_id"], params["target_id"] = notifications_of_b(engine, world)
    params["identity_id"], params["suggestion_id"] = suggestion_of_b(engine, world)
    params["verdict"] = "accept"
    params["session_id"] = session_of_b(engine, world)
    before = snapshot_b(engine, world)
    walked = 0
    for method, path, route in routes(c.app):
        if path in ("/events", "/login", "/logout"):
            continue  # /events: test_events_are_scoped; login/logout hold no brand data
        if path.startswith("/webhooks/"):
            # Network webhooks: unauthenticated by design, signature-checked against the
            # source's secret and never showing data (tests/protocol/test_webhooks.py).
            continue
        if path.startswith("/csat/"):
            # Survey answers: no login by design, the signed token is the credential; forged
            # and expired links store nothing (tests/csat/test_survey.py).
            continue
        names = PARAM.findall(path)
        missing = [n for n in names if n not in params]
        assert not missing, f"{method} {path}: teach this test how to fill {missing}"
        url = PARAM.sub(lambda m: params[m.group(1)], path)
        r = c.request(
            method, url, headers={"X-CSRF-Token": csrf}, follow_redirects=True, **body_for(route)
        )
        walked += 1
        assert SECRET_B not in r.text, f"{method} {url} showed brand B data"
        if names:
            assert r.status_code == 404, f"{method} {url} → {r.status_code}, expected 404"
        else:
            assert r.status_code < 500, f"{method} {url} → {r.status_code}"
    assert walked >= 30
    # API tokens act with the same scope.
    bearer = {"Authorization": f"Bearer {world.token_a}"}
    for method, path, route in routes(c.app):
        if not path.startswith("/api/"):
            continue
        url = PARAM.sub(lambda m: params.get(m.group(1), "0"), path)
        r = c.request(method, url, headers=bearer, **body_for(route))
        assert SECRET_B not in r.text
        if PARAM.search(path):
            assert r.status_code == 404, f"{method} {url} (token) → {r.status_code}"
    assert snapshot_b(engine, world) == before, "a request of brand A changed brand B"


def test_lists_count_only_own_brands(engine: Engine, world: World) -> None:
    c = client(engine)
    login(c, "alice")
    got = c.get("/api/v1/conversations", params={"status": "all"}).json()
    assert {x["id"] for x in got["conversations"]} == set(world.convs_a)
    html = c.get("/inbox?status=all").text
    assert html.count('class="row') == len(world.convs_a)
    assert c.get("/api/v1/conversations", params={"q": SECRET_B}).json()["conversations"] == []
    assert c.get("/api/v1/conversations", params={"tag": "btag"}).json()["conversations"] == []
    assert c.get("/inbox", params={"brand": world.slug_b}).status_code == 404
    me = c.get("/api/v1/me").json()
    assert [b["slug"] for b in me["brands"]] == [world.slug_a]


def test_events_are_scoped(sqlite_engine: Engine, sqlite_world: World) -> None:
    w = sqlite_world
    c = client(sqlite_engine)
    login(c, "alice")
    hub = c.app.state.hub  # type: ignore[attr-defined]

    def later() -> None:
        time.sleep(0.3)
        hub.publish(w.brand_b, "inbox", SECRET_B)
        hub.publish(w.brand_a, "inbox", "for-a")

    threading.Thread(target=later).start()
    with c.stream("GET", "/events", params={"ttl": 1.0}) as r:
        assert r.status_code == 200
        text = "".join(r.iter_text())
    assert "for-a" in text
    assert SECRET_B not in text
    with c.stream("GET", "/events", params={"ttl": 0.2, "conversation": w.convs_b[0]}) as r:
        assert r.status_code == 404
