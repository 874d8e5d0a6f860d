"""The outbound worker's senders for notifications and event webhooks.

* ``notify-email``: a plain-text message over the handoff's SMTP settings.
* ``notify-chat``: an incoming-webhook message in the JSON Slack and Mattermost both
  accept (``text`` plus one ``attachments`` entry with the linked title and colour).
* ``event-webhook``: the event's JSON, signed like the handoff webhook:
  ``X-Earful-Signature: sha256=HMAC-SHA256(secret, "<X-Earful-Timestamp>.<raw body>")``,
  with ``X-Earful-Event-Id`` for the receiver's deduplication.
"""

from __future__ import annotations

import asyncio
import email.policy
import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage

import httpx
import orjson
from sqlalchemy import Engine

from earful.connectors.base import ActionError, AuthError, ConnectorError, Retry, Sent
from earful.connectors.http import retry_after
from earful.db import transaction
from earful.engagement.worker import Sender, Work
from earful.handoff.config import HandoffSettings
from earful.handoff.mail import SmtpSender
from earful.handoff.webhook import DELIVERY, SIGNATURE, TIMESTAMP, sign
from earful.notifications import repository as repo
from earful.notifications.compose import slack_escape, slack_link
from earful.notifications.dispatch import EVENT_NETWORK, NETWORKS
from earful.sources.crypto import CredentialError, unseal

EVENT_ID = "X-Earful-Event-Id"
EVENT_TYPE = "X-Earful-Event"
COLOURS = {"spike": "#d9534f", "sla": "#f0ad4e", "assigned": "#2a7ae2"}


@dataclass
class MailNotifier(SmtpSender):
    """A notification by email (SMTP as the handoff's; never resent after a drop)."""

    async def send(self, work: Work) -> Sent:
        msg = EmailMessage(policy=email.policy.SMTP)
        msg["From"] = self.settings.mail_from
        msg["To"] = work.target or ""
        msg["Subject"] = str(work.payload.get("subject") or "Earful notification")
        domain = self.settings.mail_from.rpartition("@")[2] or "earful.local"
        msg["Message-ID"] = f"<{work.key}@{domain}>"
        msg["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(work.text or "")
        await asyncio.to_thread(self._send_sync, msg)
        return Sent(msg["Message-ID"], None)


class _Http:
    """One client per event loop (the worker may run rounds in several loops)."""

    timeout: float = 15.0
    _client: httpx.AsyncClient | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    def client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._loop = loop
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        return self._client


def _check(response: httpx.Response, what: str) -> None:
    code = response.status_code
    if code == 429 or code >= 500:
        raise Retry(f"{what} HTTP {code}", retry_after(response))
    if code in (401, 403):
        raise AuthError(f"{what} HTTP {code}: the receiver refused it (signature, token?)")
    if code >= 300:
        raise ActionError(f"{what} HTTP {code}", code)


def chat_message(work: Work) -> dict[str, object]:
    """Slack's and Mattermost's incoming-webhook JSON: the whole message in ``text`` (mrkdwn,
    escaped when composed), and one attachment for the colour bar and the linked title."""
    title = str(work.payload.get("subject") or "")
    link = str(work.payload.get("link") or "")
    text = str(work.payload.get("chat") or "")
    if not text:  # a job queued before messages carried their chat text
        text = slack_escape(title) + (f" {slack_link(link, 'Open')}" if link else "")
    return {
        "text": text,
        "attachments": [
            {
                "fallback": title,
                "color": COLOURS.get(str(work.payload.get("event")), "#888888"),
                "title": slack_escape(title),
                "title_link": link,
            }
        ],
    }


@dataclass
class ChatNotifier(_Http):
    """A notification to a Slack or Mattermost incoming webhook. Neither deduplicates: a
    timeout is not resent (the worker marks it "outcome unknown")."""

    idempotent: bool = False

    async def send(self, work: Work) -> Sent:
        body = orjson.dumps(chat_message(work))
        response = await self.client().post(
            work.target or "", content=body, headers={"Content-Type": "application/json"}
        )
        _check(response, "chat webhook")
        return Sent(work.key, None)


@dataclass
class EventWebhookSender(_Http):
    """A signed event to an integrator's endpoint; receivers deduplicate on the event id."""

    engine: Engine | None = None
    secret_key: str = ""
    clock: Callable[[], float] = time.time
    idempotent: bool = True
    _secrets: dict[int, str] = field(default_factory=dict, repr=False)

    def _secret(self, endpoint_id: int) -> str:
        if endpoint_id not in self._secrets:
            assert self.engine is not None
            with transaction(self.engine) as session:
                sealed = repo.endpoint_secret(session, endpoint_id)
            if sealed is None:
                raise ConnectorError("the webhook endpoint was removed")
            try:
                self._secrets[endpoint_id] = str(unseal(sealed, self.secret_key)["secret"])
            except CredentialError as exc:
                raise AuthError(str(exc)) from None
        return self._secrets[endpoint_id]

    async def send(self, work: Work) -> Sent:
        endpoint_id = int(work.payload["endpoint_id"])
        secret = await asyncio.to_thread(self._secret, endpoint_id)
        body = orjson.dumps(work.payload["body"])
        ts = str(int(self.clock()))
        event_id = str(work.payload["event_id"])
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP: ts,
            SIGNATURE: sign(secret, ts, body),
            EVENT_ID: event_id,
            EVENT_TYPE: str(work.payload["body"].get("type", "")),
            DELIVERY: work.key,
            "Idempotency-Key": event_id,
            "User-Agent": "Earful-Webhook/1",
        }
        response = await self.client().post(work.target or "", content=body, headers=headers)
        _check(response, "webhook")
        return Sent(event_id, None)


def senders(settings: HandoffSettings, engine: Engine, secret_key: str) -> dict[str, Sender]:
    return {
        NETWORKS["email"]: MailNotifier(settings),
        NETWORKS["chat"]: ChatNotifier(),
        EVENT_NETWORK: EventWebhookSender(engine=engine, secret_key=secret_key),
    }
