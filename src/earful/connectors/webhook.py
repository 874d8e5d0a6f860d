"""Generic webhook in: anyone can push posts in our own JSON schema, signed.

The sender signs ``"<timestamp>." + body`` with HMAC-SHA256 under the source's secret
and sends ``X-Earful-Timestamp`` (Unix seconds) and ``X-Earful-Signature: sha256=<hex>``.
A delivery whose timestamp is more than ``TOLERANCE_S`` away from now, or whose exact
signature was already accepted, is refused: a captured delivery cannot be replayed.
Bad or missing signatures get 401; nothing of a refused delivery is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from earful.connectors.base import Batch
from earful.connectors.wire import BadRecord, parse_post_json
from earful.pipeline.runner import Pipeline
from earful.pipeline.schema import Rejected

SIGNATURE_HEADER = "X-Earful-Signature"
TIMESTAMP_HEADER = "X-Earful-Timestamp"
TOLERANCE_S = 300
MAX_BODY = 1 << 20


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class ReplayGuard:
    """Signatures accepted within the tolerance window; a second one is a replay."""

    def __init__(self, window_s: float = TOLERANCE_S, size: int = 100_000) -> None:
        self.window_s = window_s
        self.size = size
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first_time(self, key: str, now: float) -> bool:
        while self._seen:
            oldest, at = next(iter(self._seen.items()))
            if at >= now - self.window_s and len(self._seen) < self.size:
                break
            self._seen.pop(oldest)
        if key in self._seen:
            return False
        self._seen[key] = now
        return True


def verify(
    secret: str, headers: Any, body: bytes, guard: ReplayGuard, now: float | None = None
) -> None:
    now = time.time() if now is None else now
    signature = headers.get(SIGNATURE_HEADER)
    stamp = headers.get(TIMESTAMP_HEADER)
    if not signature or not stamp:
        raise Refused(401, f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER}")
    try:
        ts = int(stamp)
    except ValueError:
        raise Refused(401, f"{TIMESTAMP_HEADER} is not Unix seconds") from None
    if not hmac.compare_digest(sign(secret, stamp, body), signature):
        raise Refused(401, "bad signature")
    if abs(now - ts) > TOLERANCE_S:
        raise Refused(401, f"delivery timestamp is {abs(now - ts):.0f} s away from now")
    if not guard.first_time(signature, now):
        raise Refused(409, "replayed delivery")


def parse_delivery(body: bytes) -> Batch:
    """One post object, or ``{"posts": [...]}``; bad posts are rejected with a reason."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Refused(400, f"invalid JSON: {exc}") from None
    items = doc.get("posts") if isinstance(doc, dict) and "posts" in doc else [doc]
    if not isinstance(items, list):
        raise Refused(400, "posts must be a list")
    batch = Batch(posts=[])
    digest = hashlib.sha256(body).hexdigest()[:16]
    for i, item in enumerate(items):
        raw = orjson.dumps(item)
        try:
            batch.posts.append(parse_post_json(raw))
        except BadRecord as exc:
            batch.rejected.append(Rejected(f"delivery {digest} #{i}", str(exc), raw))
    return batch


SourceLookup = Callable[[Session, int, str], tuple[str, int | None, dict[str, Any]]]


def router(engine: Engine, secret_key: str, pipeline: Pipeline | None = None) -> APIRouter:
    """``POST /webhooks/in/{source_id}``: a signed delivery for a ``webhook`` source."""
    from earful.sources import live
    from earful.sources.service import SourceError, heard_source, settings_of

    api = APIRouter()
    guard = ReplayGuard()
    state: dict[str, Pipeline] = {}

    @api.post("/webhooks/in/{source_id}")
    async def deliver(source_id: int, request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "delivery too large"}, status_code=413)
        try:
            with Session(engine) as session:
                source = heard_source(session, source_id)
                if source.kind != "webhook":
                    raise SourceError(f"source {source_id} is not a webhook")
                secret = settings_of(source, secret_key).get("secret")
                name, brand_id = source.name, source.brand_id
        except SourceError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status_code)
        try:
            if not isinstance(secret, str) or not secret:
                raise Refused(401, "this source has no secret")
            verify(secret, request.headers, body, guard)
            batch = parse_delivery(body)
        except Refused as exc:
            return JSONResponse({"error": exc.reason}, status_code=exc.status)
        pipe = pipeline or state.get("p") or state.setdefault("p", Pipeline(engine))
        summary = live.store_batch(pipe, engine, batch, name, source_id, brand_id)
        return JSONResponse(
            {
                "accepted": len(batch.posts),
                "rejected": len(batch.rejected),
                "stored": summary.ingested,
                "duplicates": summary.duplicates,
            },
            status_code=202,
        )

    return api
