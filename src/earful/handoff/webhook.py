"""Outgoing signed webhook: hand a conversation to any system that takes an HTTP POST.

Each delivery is ``POST <url>`` with a JSON body and:

* ``X-Earful-Timestamp``: Unix seconds when it was signed;
* ``X-Earful-Signature``: ``sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``;
* ``X-Earful-Delivery`` (and ``Idempotency-Key``): the job's key, the same on every retry.

A receiver checks the signature with :func:`verify` (constant-time, and refuses a
timestamp older than ``tolerance_s`` against replays) and deduplicates on the delivery id:
that is the contract that makes our resend after a timeout safe. A 2xx is delivered (an
``id`` or ``url`` in a JSON answer is stored on the handoff); 429 and 5xx retry (after
``Retry-After`` when given); any other 4xx fails the job with the status.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from earful.connectors.base import ActionError, AuthError, Retry, Sent
from earful.connectors.http import retry_after
from earful.engagement.worker import Work

SIGNATURE = "X-Earful-Signature"
TIMESTAMP = "X-Earful-Timestamp"
DELIVERY = "X-Earful-Delivery"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    tolerance_s: float = 300.0,
    now: float | None = None,
) -> bool:
    if not timestamp or not signature:
        return False
    try:
        age = abs((time.time() if now is None else now) - float(timestamp))
    except ValueError:
        return False
    if age > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


@dataclass
class WebhookSender:
    url: str
    secret: str
    timeout: float = 30.0
    client: httpx.AsyncClient | None = None
    idempotent: bool = True  # receivers deduplicate on X-Earful-Delivery
    clock: Any = time.time
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)

    def body(self, work: Work) -> bytes:
        doc = {
            "event": "handoff",
            "delivery": work.key,
            "handoff_id": work.payload.get("handoff_id"),
            "conversation_id": work.conversation_id,
            "brand_id": work.brand_id,
            "link": work.payload.get("link"),
            "message": work.payload.get("message"),
            "text": work.text,
            "transcript": work.payload.get("transcript"),
        }
        return orjson.dumps(doc)

    async def send(self, work: Work) -> Sent:
        loop = asyncio.get_running_loop()
        if self.client is None or self._loop is not loop:  # one client per event loop
            self._loop = loop
            self.client = httpx.AsyncClient(timeout=self.timeout)
        body = self.body(work)
        ts = str(int(self.clock()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP: ts,
            SIGNATURE: sign(self.secret, ts, body),
            DELIVERY: work.key,
            "Idempotency-Key": work.key,
            "User-Agent": "Earful-Webhook/1",
        }
        response = await self.client.post(work.target or self.url, content=body, headers=headers)
        code = response.status_code
        if code == 429 or code >= 500:
            raise Retry(f"webhook HTTP {code}", retry_after(response))
        if code in (401, 403):
            raise AuthError(f"webhook HTTP {code}: the receiver refused our signature")
        if code >= 300:
            raise ActionError(f"webhook HTTP {code}", code)
        try:
            doc = response.json()
        except ValueError:
            doc = None
        if isinstance(doc, dict) and (doc.get("id") or doc.get("url")):
            return Sent(str(doc.get("id") or work.key), doc.get("url"))
        return Sent(work.key, None)

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()
