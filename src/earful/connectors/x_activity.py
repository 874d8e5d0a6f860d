"""X direct messages in: the Account Activity API webhook (source kind ``x_activity``).

* ``GET /webhooks/x/{source_id}?crc_token=...``: the challenge-response check X runs
  when the webhook is registered and hourly after: ``{"response_token": "sha256=<base64
  HMAC-SHA256 of crc_token under the app's consumer secret>"}``.
* ``POST /webhooks/x/{source_id}``: ``x-twitter-webhooks-signature: sha256=<base64
  HMAC-SHA256 of the raw body>``; missing or wrong is 401 and nothing is stored. Only
  ``direct_message_events`` are kept (public activity comes through the ``x`` source's
  filtered stream); each becomes a private message of the sender, whose X user id is
  the same account as their public posts. An exact body seen within the hour is
  acknowledged without storing it again.

Answers go out through the brand's ``x`` source (``POST
/2/dm_conversations/with/:participant_id/messages``); this source only receives.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from earful.connectors.base import Batch
from earful.connectors.messages import parse_x_activity
from earful.connectors.webhook import ReplayGuard
from earful.connectors.wire import BadRecord
from earful.pipeline.runner import Pipeline
from earful.pipeline.schema import Rejected

SIGNATURE_HEADER = "x-twitter-webhooks-signature"
MAX_BODY = 1 << 20
REPLAY_WINDOW_S = 3600


def signature(consumer_secret: str, data: bytes) -> str:
    mac = hmac.new(consumer_secret.encode(), data, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(mac).decode()


def router(engine: Engine, secret_key: str, pipeline: Pipeline | None = None) -> APIRouter:
    from earful.sources import live
    from earful.sources.service import SourceError, get_source, settings_of

    api = APIRouter()
    guard = ReplayGuard(window_s=REPLAY_WINDOW_S)
    state: dict[str, Pipeline] = {}

    def load(source_id: int) -> tuple[str, int | None, str]:
        with Session(engine) as session:
            source = get_source(session, source_id)
            if source.kind != "x_activity":
                raise SourceError(f"source {source_id} is not an X Account Activity webhook")
            secret = settings_of(source, secret_key).get("consumer_secret")
            if not isinstance(secret, str) or not secret:
                raise SourceError(f"source {source_id} has no consumer secret")
            return source.name, source.brand_id, secret

    @api.get("/webhooks/x/{source_id}")
    def crc(source_id: int, request: Request) -> Response:
        try:
            _, _, secret = load(source_id)
        except SourceError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status_code)
        token = request.query_params.get("crc_token")
        if not token:
            return JSONResponse({"error": "missing crc_token"}, status_code=400)
        return JSONResponse({"response_token": signature(secret, token.encode())})

    @api.post("/webhooks/x/{source_id}")
    async def deliver(source_id: int, request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "delivery too large"}, status_code=413)
        try:
            name, brand_id, secret = load(source_id)
        except SourceError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status_code)
        given = request.headers.get(SIGNATURE_HEADER) or ""
        if not given or not hmac.compare_digest(signature(secret, body), given):
            return JSONResponse({"error": f"bad or missing {SIGNATURE_HEADER}"}, status_code=401)
        digest = hashlib.sha256(body).hexdigest()
        if not guard.first_time(digest, time.time()):
            return JSONResponse({"status": "duplicate delivery ignored"}, status_code=200)
        batch = Batch(posts=[])
        try:
            doc: Any = orjson.loads(body)
            batch.private, bad, batch.skipped = parse_x_activity(doc)
        except (orjson.JSONDecodeError, BadRecord) as exc:
            bad = [("delivery", str(exc) if isinstance(exc, BadRecord) else "invalid JSON")]
        for where, reason in bad:
            batch.rejected.append(Rejected(f"{digest[:16]} {where}", reason, body[:65536]))
        pipe = pipeline or state.get("p") or state.setdefault("p", Pipeline(engine))
        summary = live.store_batch(pipe, engine, batch, name, source_id, brand_id)
        return JSONResponse(
            {"stored": summary.ingested, "rejected": len(batch.rejected)}, status_code=200
        )

    return api
