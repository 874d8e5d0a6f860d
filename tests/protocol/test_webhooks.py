"""Webhooks in: Meta (verify token, X-Hub-Signature-256) and the generic signed webhook."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from earful.connectors import meta, webhook
from earful.db import transaction
from earful.models import DeadLetter, Post
from tests.protocol.conftest import (
    SECRET,
    assert_redacted,
    assert_relabelled,
    found_by_search,
    make_source,
)
from tests.protocol.server import serve

SAMPLES = Path(__file__).parent / "samples"
APP_SECRET = "meta-app-secret"


class FakeGraph:
    def __init__(self) -> None:
        self.comments: list[dict[str, object]] = []

    async def lookup(self, request: Request) -> JSONResponse:
        object_id = request.path_params["id"]
        if request.headers.get("authorization") != "Bearer page-token":
            return JSONResponse(
                {
                    "error": {
                        "message": "Invalid OAuth access token.",
                        "type": "OAuthException",
                        "code": 190,
                    }
                },
                status_code=400,
            )
        return JSONResponse(
            {
                "id": object_id,
                "text": "@acmeair lovely crew today",
                "username": "happy.flyer",
                "timestamp": "2024-11-23T13:53:20+0000",
            }
        )

    async def edge(self, request: Request) -> JSONResponse:
        body = await request.json()
        new_id = f"{request.path_params['id']}_reply{len(self.comments)}"
        self.comments.append(
            {"parent": request.path_params["id"], "edge": request.path_params["edge"], **body}
        )
        return JSONResponse({"id": new_id})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v21.0/{id}", self.lookup),
                Route("/v21.0/{id}/{edge}", self.edge, methods=["POST"]),
            ]
        )


@pytest.fixture
def graph() -> Iterator[tuple[FakeGraph, str]]:
    fake = FakeGraph()
    with serve(fake.app()) as host:
        yield fake, f"http://{host}/v21.0"


def meta_app(engine: Engine, graph_url: str) -> tuple[TestClient, int]:
    source_id = make_source(
        engine,
        "meta",
        {"app_secret": APP_SECRET, "verify_token": "vt-123", "page_token": "page-token"},
    )
    app = FastAPI()
    app.include_router(meta.router(engine, SECRET, graph_url=graph_url))
    return TestClient(app), source_id


def delivery(name: str, at: float | None = None) -> bytes:
    text = (SAMPLES / name).read_text().replace("TIME", str(int(at or time.time())))
    return orjson.dumps(orjson.loads(text))


def signed(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={mac}", "Content-Type": "application/json"}


def count(engine: Engine, model: type) -> int:
    with transaction(engine) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_meta_verify_token_handshake(engine: Engine, graph: tuple[FakeGraph, str]) -> None:
    client, sid = meta_app(engine, graph[1])
    ok = client.get(
        f"/webhooks/meta/{sid}",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": "vt-123",
            "hub.challenge": "1158201444",
        },
    )
    assert ok.status_code == 200 and ok.text == "1158201444"
    bad = client.get(
        f"/webhooks/meta/{sid}",
        params={"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
    )
    assert bad.status_code == 403


def test_meta_page_feed_comments_edits_removals(
    engine: Engine, graph: tuple[FakeGraph, str]
) -> None:
    client, sid = meta_app(engine, graph[1])
    body = delivery("meta_page_feed.json")
    r = client.post(f"/webhooks/meta/{sid}", content=body, headers=signed(body))
    assert r.status_code == 200, r.text
    with transaction(engine) as session:
        posts = {p.external_id: p for p in session.scalars(select(Post))}
    first = posts["122150000000000001_1234567890123456"]
    second = posts["122150000000000001_1234567890123457"]
    assert first.text.endswith("(flight 212)") and first.edited_at is not None
    assert second.reply_to_external_id == first.external_id
    assert len(posts) == 2
    assert_relabelled(engine, "facebook", first.external_id)

    # Later Sam deletes the comment: the feed change's verb is "remove".
    removal = {
        "object": "page",
        "entry": [
            {
                "id": "104680012345678",
                "time": int(time.time()),
                "changes": [
                    {
                        "field": "feed",
                        "value": {
                            "from": {"id": "6543210987654322", "name": "Sam"},
                            "post_id": "104680012345678_122150000000000001",
                            "comment_id": second.external_id,
                            "created_time": int(time.time()),
                            "item": "comment",
                            "parent_id": first.external_id,
                            "verb": "remove",
                        },
                    }
                ],
            }
        ],
    }
    body = orjson.dumps(removal)
    r = client.post(f"/webhooks/meta/{sid}", content=body, headers=signed(body))
    assert r.status_code == 200, r.text
    assert_redacted(engine, "facebook", second.external_id)
    assert found_by_search(engine, "same thing happened") == 0
    # A redelivery of the comment's creation (Meta retries) does not bring it back.
    body = delivery("meta_page_feed.json")
    client.post(f"/webhooks/meta/{sid}", content=body, headers=signed(body))
    assert_redacted(engine, "facebook", second.external_id)


def test_meta_instagram_comment_and_mention_lookup(
    engine: Engine, graph: tuple[FakeGraph, str]
) -> None:
    client, sid = meta_app(engine, graph[1])
    body = delivery("meta_instagram.json")
    r = client.post(f"/webhooks/meta/{sid}", content=body, headers=signed(body))
    assert r.status_code == 200, r.text
    with transaction(engine) as session:
        posts = {p.external_id: p for p in session.scalars(select(Post))}
    assert posts["17865799348089039"].reply_to_external_id == "17890000000000001"
    assert posts["17870000000000003"].text == "@acmeair lovely crew today"


@pytest.mark.parametrize(
    "headers", [{}, {"X-Hub-Signature-256": "sha256=00"}, {"X-Hub-Signature-256": "sha1=abc"}]
)
def test_meta_rejects_bad_or_missing_signature_and_stores_nothing(
    engine: Engine, graph: tuple[FakeGraph, str], headers: dict[str, str]
) -> None:
    client, sid = meta_app(engine, graph[1])
    body = delivery("meta_page_feed.json")
    r = client.post(f"/webhooks/meta/{sid}", content=body, headers=headers)
    assert r.status_code == 401
    tampered = body.replace(b"suitcase", b"suitcas3")
    r = client.post(f"/webhooks/meta/{sid}", content=tampered, headers=signed(body))
    assert r.status_code == 401
    assert count(engine, Post) == 0 and count(engine, DeadLetter) == 0


def test_meta_rejects_replayed_old_delivery(engine: Engine, graph: tuple[FakeGraph, str]) -> None:
    client, sid = meta_app(engine, graph[1])
    old = delivery("meta_page_feed.json", at=time.time() - 2 * meta.MAX_AGE_S)
    r = client.post(f"/webhooks/meta/{sid}", content=old, headers=signed(old))
    assert r.status_code == 409
    assert count(engine, Post) == 0
    fresh = delivery("meta_page_feed.json")
    assert (
        client.post(f"/webhooks/meta/{sid}", content=fresh, headers=signed(fresh)).json()["stored"]
        == 2
    )
    again = client.post(f"/webhooks/meta/{sid}", content=fresh, headers=signed(fresh))
    assert again.status_code == 200 and "duplicate" in again.text
    assert count(engine, Post) == 2


def test_graph_reply_like_private_reply(graph: tuple[FakeGraph, str]) -> None:
    fake, url = graph

    async def act() -> None:
        fb = meta.MetaGraph("page-token", page_id="104680012345678", graph_url=url)
        ig = meta.MetaGraph("page-token", platform="instagram", graph_url=url)
        sent = await fb.reply("122150000000000001_1234567890123456", "So sorry, DM us?")
        assert sent.external_id == "122150000000000001_1234567890123456_reply0"
        await fb.like("122150000000000001_1234567890123456")
        await fb.direct_message("122150000000000001_1234567890123456", "Your file number?")
        await ig.reply("17865799348089039", "We are on it")
        await fb.client.aclose()
        await ig.client.aclose()

    asyncio.run(act())
    assert [c["edge"] for c in fake.comments] == ["comments", "likes", "messages", "replies"]
    assert fake.comments[0]["parent"] == "122150000000000001_1234567890123456"
    assert fake.comments[2]["recipient"] == {"comment_id": "122150000000000001_1234567890123456"}


# ------------------------------------------------------------------ generic webhook


def hook_app(engine: Engine) -> tuple[TestClient, int]:
    source_id = make_source(engine, "webhook", {"secret": "whsec-1"})
    app = FastAPI()
    app.include_router(webhook.router(engine, SECRET))
    return TestClient(app), source_id


POST = {
    "network": "forum",
    "id": "t-1",
    "author": {"id": "u-1", "handle": "dana"},
    "text": "acmeair lost my bag",
    "created_at": "2024-11-23T13:53:20+00:00",
}


def hook_headers(body: bytes, ts: int | None = None, secret: str = "whsec-1") -> dict[str, str]:
    ts = int(time.time()) if ts is None else ts
    return {
        webhook.TIMESTAMP_HEADER: str(ts),
        webhook.SIGNATURE_HEADER: webhook.sign(secret, ts, body),
    }


def test_generic_webhook_stores_signed_posts(engine: Engine) -> None:
    client, sid = hook_app(engine)
    body = orjson.dumps({"posts": [POST, {**POST, "id": "t-2", "reply_to": "t-1"}, {"id": "x"}]})
    r = client.post(f"/webhooks/in/{sid}", content=body, headers=hook_headers(body))
    assert r.status_code == 202, r.text
    assert r.json()["stored"] == 2 and r.json()["rejected"] == 1
    with transaction(engine) as session:
        reasons = [d.reason for d in session.scalars(select(DeadLetter))]
    assert reasons and "missing" in reasons[0]


@pytest.mark.parametrize(
    "mangle",
    [
        lambda h: {},
        lambda h: {**h, webhook.SIGNATURE_HEADER: "sha256=" + "0" * 64},
        lambda h: {k: v for k, v in h.items() if k != webhook.TIMESTAMP_HEADER},
        lambda h: {**h, webhook.TIMESTAMP_HEADER: str(int(h[webhook.TIMESTAMP_HEADER]) + 1)},
    ],
)
def test_generic_webhook_rejects_bad_signatures(engine: Engine, mangle: object) -> None:
    client, sid = hook_app(engine)
    body = orjson.dumps(POST)
    r = client.post(f"/webhooks/in/{sid}", content=body, headers=mangle(hook_headers(body)))  # type: ignore[operator]
    assert r.status_code == 401
    assert count(engine, Post) == 0 and count(engine, DeadLetter) == 0


def test_generic_webhook_rejects_old_and_replayed_deliveries(engine: Engine) -> None:
    client, sid = hook_app(engine)
    body = orjson.dumps(POST)
    old = hook_headers(body, ts=int(time.time()) - 3600)
    assert client.post(f"/webhooks/in/{sid}", content=body, headers=old).status_code == 401
    assert count(engine, Post) == 0
    headers = hook_headers(body)
    assert client.post(f"/webhooks/in/{sid}", content=body, headers=headers).status_code == 202
    replay = client.post(f"/webhooks/in/{sid}", content=body, headers=headers)
    assert replay.status_code == 409
    assert count(engine, Post) == 1
