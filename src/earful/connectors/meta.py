"""Meta (Facebook Pages and Instagram): the webhook receiver and Graph API answers.

* ``GET /webhooks/meta/{source_id}``: the verify-token handshake (``hub.mode=subscribe``,
  ``hub.verify_token``, echo ``hub.challenge``; 403 otherwise).
* ``POST /webhooks/meta/{source_id}``: ``X-Hub-Signature-256: sha256=<HMAC of the raw
  body under the app secret>``; a missing or bad signature is 401 and nothing is stored.
  Deliveries whose entries are all older than ``MAX_AGE_S`` are refused as replays, and
  an exact body seen within the window is acknowledged without storing it again.
* Page ``feed`` changes (comments and posts: add / edited / remove) and Instagram
  ``comments`` and ``mentions`` (a mention carries ids only: its text is looked up with
  the page token).
* Messenger and Instagram messages (``entry[].messaging[]``): private conversations
  (:mod:`earful.connectors.messages`), answered through the Send API.
* :class:`MetaGraph` answers: ``POST /{comment-id}/comments`` (Facebook) or
  ``/{ig-comment-id}/replies`` (Instagram), ``/{id}/likes``, private replies through
  ``/{page-id}/messages`` with ``recipient.comment_id``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any, Literal

import httpx
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from earful.connectors.base import Actor, Batch, NotSupported, Sent
from earful.connectors.http import RateGate, check, request
from earful.connectors.messages import parse_meta_messaging
from earful.connectors.webhook import ReplayGuard
from earful.connectors.wire import BadRecord, parse_ig_mention, parse_meta_delivery
from earful.pipeline.runner import Pipeline
from earful.pipeline.schema import Rejected

GRAPH_URL = "https://graph.facebook.com/v21.0"
SIGNATURE_HEADER = "X-Hub-Signature-256"
MAX_AGE_S = 3600  # Meta retries failed deliveries for a while; older ones are replays
MAX_BODY = 1 << 20
# A direct message's recipient that is a person in a Messenger / Instagram conversation
# (the page-scoped id), not a comment to answer privately.
USER_PREFIX = "user:"


def signature(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def valid_signature(app_secret: str, body: bytes, header: str | None) -> bool:
    return bool(header) and hmac.compare_digest(signature(app_secret, body), header or "")


def newest_entry_time(doc: Any) -> float | None:
    times = []
    for entry in doc.get("entry") or [] if isinstance(doc, dict) else []:
        t = entry.get("time") if isinstance(entry, dict) else None
        if isinstance(t, int | float) and not isinstance(t, bool):
            times.append(t / 1000 if t > 10_000_000_000 else t)  # ms on some objects
    return max(times) if times else None


class MetaGraph(Actor):
    def __init__(
        self,
        page_token: str,
        page_id: str | None = None,
        platform: Literal["facebook", "instagram"] = "facebook",
        graph_url: str = GRAPH_URL,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.token = page_token
        self.page_id = page_id
        self.platform = platform
        self.base = graph_url.rstrip("/")
        self.client = client or httpx.AsyncClient(timeout=30.0)
        self.gate = RateGate()

    async def _post(self, path: str, data: dict[str, Any]) -> Any:
        response = await request(
            self.client,
            "POST",
            f"{self.base}/{path}",
            json=data,
            headers={"Authorization": f"Bearer {self.token}"},
            gate=self.gate,
        )
        return check(response, path.split("/")[-1])

    async def get(self, object_id: str, fields: str) -> Any:
        response = await request(
            self.client,
            "GET",
            f"{self.base}/{object_id}",
            params={"fields": fields},
            headers={"Authorization": f"Bearer {self.token}"},
            gate=self.gate,
        )
        return check(response, "lookup")

    async def reply(self, target: str, text: str, idempotency_key: str | None = None) -> Sent:
        edge = "replies" if self.platform == "instagram" else "comments"
        doc = await self._post(f"{target}/{edge}", {"message": text})
        return Sent(str(doc.get("id")) if isinstance(doc, dict) else None)

    async def like(self, target: str) -> Sent:
        if self.platform == "instagram":
            raise NotSupported("the Instagram Graph API cannot like comments")
        await self._post(f"{target}/likes", {})
        return Sent(None)

    async def repost(self, target: str) -> Sent:
        raise NotSupported("the Graph API cannot share a post as the page")

    async def direct_message(self, recipient: str, text: str) -> Sent:
        """A private reply to a comment (``recipient`` is the comment id), or an answer in a
        Messenger / Instagram conversation (``user:<PSID or IGSID>``, the Send API's
        ``recipient.id``; ``messaging_type: RESPONSE`` inside the 24-hour window)."""
        if not self.page_id:
            raise NotSupported("private replies need the page id")
        if recipient.startswith(USER_PREFIX):
            data: dict[str, Any] = {
                "recipient": {"id": recipient.removeprefix(USER_PREFIX)},
                "messaging_type": "RESPONSE",
                "message": {"text": text},
            }
        else:
            data = {"recipient": {"comment_id": recipient}, "message": {"text": text}}
        doc = await self._post(f"{self.page_id}/messages", data)
        return Sent(str(doc.get("message_id")) if isinstance(doc, dict) else None)


def router(
    engine: Engine,
    secret_key: str,
    pipeline: Pipeline | None = None,
    graph_url: str = GRAPH_URL,
) -> APIRouter:
    from earful.sources import live
    from earful.sources.service import SourceError, heard_source, settings_of

    api = APIRouter()
    guard = ReplayGuard(window_s=MAX_AGE_S)
    state: dict[str, Pipeline] = {}

    def load(source_id: int) -> tuple[str, int | None, dict[str, Any]]:
        with Session(engine) as session:
            source = heard_source(session, source_id)
            if source.kind != "meta":
                raise SourceError(f"source {source_id} is not a Meta webhook")
            return source.name, source.brand_id, settings_of(source, secret_key)

    @api.get("/webhooks/meta/{source_id}")
    def handshake(source_id: int, request: Request) -> Response:
        try:
            _, _, settings = load(source_id)
        except SourceError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status_code)
        q = request.query_params
        token = settings.get("verify_token")
        if (
            q.get("hub.mode") == "subscribe"
            and isinstance(token, str)
            and hmac.compare_digest(q.get("hub.verify_token", ""), token)
        ):
            return PlainTextResponse(q.get("hub.challenge", ""))
        return JSONResponse({"error": "verify token mismatch"}, status_code=403)

    @api.post("/webhooks/meta/{source_id}")
    async def deliver(source_id: int, request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "delivery too large"}, status_code=413)
        try:
            name, brand_id, settings = load(source_id)
        except SourceError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status_code)
        secret = settings.get("app_secret")
        if not isinstance(secret, str) or not valid_signature(
            secret, body, request.headers.get(SIGNATURE_HEADER)
        ):
            return JSONResponse({"error": "bad or missing X-Hub-Signature-256"}, status_code=401)
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return JSONResponse({"error": "invalid JSON"}, status_code=400)
        now = time.time()
        newest = newest_entry_time(doc)
        if newest is not None and now - newest > MAX_AGE_S:
            return JSONResponse({"error": "stale delivery (replay?)"}, status_code=409)
        if not guard.first_time(hashlib.sha256(body).hexdigest(), now):
            return JSONResponse({"status": "duplicate delivery ignored"}, status_code=200)
        digest = hashlib.sha256(body).hexdigest()[:16]
        batch = Batch(posts=[])
        try:
            changes, bad = parse_meta_delivery(doc)
        except BadRecord as exc:
            changes, bad = [], [("delivery", str(exc))]
        if isinstance(doc, dict) and doc.get("object") in ("page", "instagram"):
            batch.private, bad_messages, batch.skipped = parse_meta_messaging(doc)
            bad += bad_messages
        for where, reason in bad:
            batch.rejected.append(Rejected(f"{digest} {where}", reason, body[:65536]))
        token = settings.get("page_token")
        graph = MetaGraph(token, graph_url=graph_url) if isinstance(token, str) else None
        for what, payload in changes:
            if what == "post":
                batch.posts.append(payload)
            elif what == "edit":
                batch.edited.append(payload)
            elif what == "delete":
                batch.deleted.append(payload)
            elif what == "mention" and graph is not None:
                media_id, comment_id = payload
                fields = (
                    "id,text,username,timestamp"
                    if comment_id
                    else ("id,caption,username,timestamp,permalink")
                )
                try:
                    found = await graph.get(comment_id or media_id, fields)
                    batch.posts.append(parse_ig_mention(found, orjson.dumps(found)))
                except BadRecord as exc:
                    batch.rejected.append(Rejected(f"{digest} mention", str(exc), body[:65536]))
                except Exception as exc:  # network trouble: keep the delivery's ids
                    batch.rejected.append(
                        Rejected(f"{digest} mention", f"lookup failed: {exc}", body[:65536])
                    )
            else:
                batch.skipped += 1
        if graph is not None:
            await graph.client.aclose()
        pipe = pipeline or state.get("p") or state.setdefault("p", Pipeline(engine))
        summary = live.store_batch(pipe, engine, batch, name, source_id, brand_id)
        return JSONResponse(
            {"stored": summary.ingested, "rejected": len(batch.rejected)}, status_code=200
        )

    return api
