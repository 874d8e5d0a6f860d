"""Email handoff: the transcript over SMTP, and the customer's answer threaded back.

Out: one message per handoff job (``Message-ID`` derived from the job's key, a
``Reply-To`` carrying the conversation's signed token). In: an SMTP server
(:class:`InboundHandler` for aiosmtpd) or an IMAP poll (:func:`poll_imap`) hands each
message to :func:`store_inbound`, which files it as an ``email`` post of the conversation
the token (or ``In-Reply-To``) names; the agent sees it in the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import email.utils
import imaplib
import logging
import re
import smtplib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from earful.connectors.base import ActionError, Retry, Sent
from earful.conversations import repository as conversations_repo
from earful.customers import links
from earful.db import transaction
from earful.engagement import repository as replies_repo
from earful.engagement.worker import Ambiguous, Work
from earful.handoff import support, tokens
from earful.handoff.config import HandoffSettings
from earful.models import (
    Conversation,
    ConversationStatus,
    Customer,
    Identity,
    JobKind,
    Post,
)
from earful.models.base import utcnow

log = logging.getLogger("earful.handoff.mail")


def compose(payload: dict[str, Any], text: str) -> EmailMessage:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = payload["from"]
    msg["To"] = payload["to"]
    msg["Reply-To"] = payload["reply_to"]
    msg["Subject"] = payload["subject"]
    msg["Message-ID"] = payload["message_id"]
    msg["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
    msg["Auto-Submitted"] = "auto-generated" if payload.get("auto") else "no"
    if payload.get("in_reply_to"):  # an answer in a support-mail conversation
        msg["In-Reply-To"] = payload["in_reply_to"]
        msg["References"] = " ".join([*payload.get("references", []), payload["in_reply_to"]])
    msg.set_content(text)
    return msg


@dataclass
class SmtpSender:
    """Sends handoff mail. Not idempotent: a drop after DATA is flagged, never resent."""

    settings: HandoffSettings
    idempotent: bool = False

    def _send_sync(self, msg: EmailMessage) -> None:
        s = self.settings
        try:
            client = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s)
        except OSError as exc:  # never connected: nothing was sent
            raise Retry(f"cannot reach the mail server: {type(exc).__name__}") from None
        try:
            client.ehlo()
            if s.smtp_starttls:
                client.starttls()
                client.ehlo()
            if s.smtp_user:
                client.login(s.smtp_user, s.smtp_password or "")
            client.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = {c for c, _ in exc.recipients.values()}
            if all(c >= 500 for c in codes):
                raise ActionError(f"the mail server refused the address ({min(codes)})") from None
            raise Retry(f"the mail server deferred the address ({min(codes)})") from None
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= 500:
                raise ActionError(
                    f"the mail server refused the message ({exc.smtp_code})"
                ) from None
            raise Retry(f"the mail server deferred the message ({exc.smtp_code})") from None
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise Ambiguous(
                f"the mail server dropped the connection ({type(exc).__name__})"
            ) from None
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()

    async def send(self, work: Work) -> Sent:
        payload = dict(work.payload)
        if work.kind == JobKind.DIRECT_MESSAGE:  # an answer in a support-mail conversation
            payload = answer_headers(self.settings, work)
        msg = compose(payload, work.text or "")
        await asyncio.to_thread(self._send_sync, msg)
        return Sent(str(payload["message_id"]), None)


def answer_headers(settings: HandoffSettings, work: Work) -> dict[str, Any]:
    """An answer to a customer's support mail: from the address they wrote to, threaded
    under their message, its Message-ID fixed by the job's key (the same on a resend)."""
    payload = dict(work.payload)
    sender = str(payload.get("from") or settings.mail_from)
    return {
        **payload,
        "from": sender,
        "to": work.target,
        "reply_to": sender,
        "subject": payload.get("subject") or "Re: your message",
        "message_id": f"<{work.key}@{settings.reply_domain}>",
    }


# ------------------------------------------------------------------ inbound

QUOTE_HEAD = re.compile(
    r"^(On .{3,200} wrote:|Le .{3,200} a écrit ?:|Am .{3,200} schrieb .{0,100}:|"
    r"-{2,} ?Original Message ?-{2,}|From: .+)$",
    re.IGNORECASE,
)


def strip_quoted(text: str) -> str:
    """The new words of a reply: cut at the quote header or the first quoted block."""
    out = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if QUOTE_HEAD.match(line.strip()) or line.startswith(">"):
            break
        out.append(line)
    return "\n".join(out).strip()


@dataclass(slots=True, frozen=True)
class InboundMail:
    recipients: list[str]
    sender: str
    sender_name: str | None
    subject: str
    message_id: str
    in_reply_to: list[str]
    text: str
    date: datetime


def parse(raw: bytes, envelope_to: list[str] | None = None) -> InboundMail:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    name, sender = email.utils.parseaddr(str(msg.get("From", "")))
    recipients = list(envelope_to or [])
    for header in ("To", "Cc", "Delivered-To"):
        recipients += [a for _, a in email.utils.getaddresses(msg.get_all(header, []))]
    body = msg.get_body(preferencelist=("plain", "html"))
    text = body.get_content() if body is not None else ""
    if body is not None and body.get_content_type() == "text/html":
        text = re.sub(r"<[^>]+>", " ", text)
    refs = " ".join(str(msg.get(h, "")) for h in ("In-Reply-To", "References"))
    try:
        date = email.utils.parsedate_to_datetime(str(msg["Date"])) if msg["Date"] else utcnow()
    except (TypeError, ValueError):
        date = utcnow()
    if date.tzinfo is None:
        date = date.replace(tzinfo=UTC)
    mid = str(msg.get("Message-ID", "")).strip() or f"<no-id-{hash(raw)}@earful>"
    return InboundMail(
        recipients=recipients,
        sender=sender.lower(),
        sender_name=name or None,
        subject=str(msg.get("Subject", "")),
        message_id=mid,
        in_reply_to=re.findall(r"<[^<>\s]+>", refs),
        text=strip_quoted(text),
        date=min(date, utcnow()),
    )


EMAIL_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


class UnknownConversation(Exception):
    """No genuine token and no known Message-ID: the mail is not an answer to us."""


def conversation_for(session: Session, mail: InboundMail, secret: str) -> Conversation:
    for address in mail.recipients:
        conv_id = tokens.conversation_of(address, secret)
        if conv_id is not None:
            conv = session.get(Conversation, conv_id)
            if conv is not None:
                return conv
    for mid in mail.in_reply_to:
        handoff = replies_repo.handoff_by_external(session, "email", mid)
        if handoff is not None:
            conv = session.get(Conversation, handoff.conversation_id)
            if conv is not None:
                return conv
    raise UnknownConversation("no conversation token or known thread in this mail")


def store_inbound(session: Session, mail: InboundMail, secret: str) -> Post:
    """File an email answer in its conversation (once, however often it is delivered)."""
    existing = replies_repo.post_by_key(session, "email", mail.message_id)
    if existing is not None:
        return existing
    conv = conversation_for(session, mail, secret)
    starter = session.get(Identity, conv.identity_id)
    customer_id = starter.customer_id if starter else None
    ident = session.query(Identity).filter_by(network="email", external_id=mail.sender).first()
    if ident is None:
        ident = Identity(
            network="email",
            external_id=mail.sender,
            handle=mail.sender,
            display_name=mail.sender_name,
        )
        session.add(ident)
        session.flush()
    if starter is not None and (customer_id is None or ident.customer_id != customer_id):
        # Whoever answers the mail we sent for @handle is probably them: an agent decides.
        who = f"@{starter.handle}" if starter.handle else f"{starter.network} {starter.external_id}"
        links.suggest(session, conv.brand_id, starter.id, ident.id,
                      f"{mail.sender} answered the email handoff sent for {who}")  # fmt: skip
    if customer_id:
        customer = session.get(Customer, customer_id)
        if customer is not None and not customer.email:
            customer.email = mail.sender
    post = Post(
        network="email",
        external_id=mail.message_id[:200],
        identity_id=ident.id,
        text=mail.text or "(empty message)",
        created_at=mail.date,
        reply_to_external_id=mail.in_reply_to[-1][:200] if mail.in_reply_to else None,
        from_brand=False,
    )
    replies_repo.add_to_conversation(session, conv, post)
    if conv.status in (ConversationStatus.WAITING, ConversationStatus.RESOLVED):
        conv.status = ConversationStatus.OPEN
    conversations_repo.refresh_states(session, [conv.id])
    return post


class InboundHandler:
    """aiosmtpd handler: accepts mail for genuine reply addresses and for the brands'
    support addresses (``handles["email"]``), and files it."""

    def __init__(self, engine: Engine, secret: str) -> None:
        self.engine = engine
        self.secret = secret
        self.stored = 0

    def _support_brand(self, address: str) -> int | None:
        with transaction(self.engine) as session:
            return support.brand_of(session, address)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if (
            tokens.conversation_of(address, self.secret) is None
            and (await asyncio.to_thread(self._support_brand, address)) is None
        ):
            return "550 5.1.1 No such conversation address"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = bytes(envelope.original_content or envelope.content)
        mail = parse(raw, list(envelope.rcpt_tos))
        if not EMAIL_ADDRESS.match(mail.sender):
            return "550 5.1.7 The message has no valid From address"
        try:
            await asyncio.to_thread(self._store, mail, raw, list(envelope.rcpt_tos))
        except UnknownConversation:
            return "550 5.1.1 No such conversation"
        self.stored += 1
        return "250 Message accepted"

    def _store(self, mail: InboundMail, raw: bytes, rcpt: list[str]) -> None:
        with transaction(self.engine) as session:
            if any(tokens.conversation_of(a, self.secret) is not None for a in rcpt):
                store_inbound(session, mail, self.secret)
                return
            for address in rcpt:
                brand_id = support.brand_of(session, address)
                if brand_id is not None:
                    support.store(session, mail, raw, brand_id)
                    return
            raise UnknownConversation("no conversation token nor support address")


def poll_imap(
    engine: Engine,
    secret: str,
    host: str,
    user: str,
    password: str,
    mailbox: str = "INBOX",
    port: int = 993,
    ssl: bool = True,
) -> int:
    """File every unseen message of ``mailbox``; returns how many were stored."""
    imap = imaplib.IMAP4_SSL(host, port) if ssl else imaplib.IMAP4(host, port)
    stored = 0
    try:
        imap.login(user, password)
        imap.select(mailbox)
        _, data = imap.search(None, "UNSEEN")
        for num in (data[0] or b"").split():
            _, parts = imap.fetch(num.decode(), "(RFC822)")
            raw = next((p[1] for p in parts if isinstance(p, tuple)), None)
            if raw is None:
                continue
            try:
                with transaction(engine) as session:
                    store_inbound(session, parse(bytes(raw)), secret)
                stored += 1
            except UnknownConversation:
                log.info("imap: a message without a conversation token was left alone")
            imap.store(num.decode(), "+FLAGS", "\\Seen")
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            imap.logout()
    return stored
