"""The network webhooks are mounted in the web app and pass without a session or CSRF token."""

from __future__ import annotations

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from earful.web.app import create_app
from tests.protocol.conftest import SECRET, make_source
from tests.protocol.test_webhooks import POST, hook_headers


def test_signed_delivery_is_stored_through_the_app_and_unsigned_is_refused(
    engine: Engine,
) -> None:
    source_id = make_source(engine, "webhook", {"secret": "whsec-1"})
    client = TestClient(create_app(engine, secret_key=SECRET, secure_cookies=False, live=False))
    body = orjson.dumps({"posts": [POST]})
    assert client.post(f"/webhooks/in/{source_id}", content=body).status_code == 401
    r = client.post(f"/webhooks/in/{source_id}", content=body, headers=hook_headers(body))
    assert r.status_code == 202, r.text
    assert r.json()["stored"] == 1
    # The Meta handshake route is there too (a wrong verify token is refused).
    r = client.get(
        f"/webhooks/meta/{source_id}",
        params={"hub.mode": "subscribe", "hub.verify_token": "no", "hub.challenge": "1"},
    )
    assert r.status_code in (400, 403, 404)
