"""A brand's support address is a private channel: mail in over SMTP, answers back by
email from the same address, threaded by Message-ID / References, each sent once."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from sqlalchemy import Engine, select

from earful.auth.service import Principal, create_user, load_principal
from earful.brands.service import create_brand
from earful.conversations import repository as conversations_repo
from earful.db import transaction
from earful.engagement import replies
from earful.engagement.worker import OutboundWorker
from earful.handoff.config import HandoffSettings
from earful.handoff.mail import InboundHandler, SmtpSender
from earful.models import Conversation, ConversationStatus, Identity, Post, Role
from tests.handoff.fake_smtp import Catcher, smtp_server

SECRET = "support-test-secret"
SUPPORT = "help@acme.example"


@pytest.fixture
def relay() -> Iterator[tuple[Catcher, int]]:
    catcher = Catcher()
    with smtp_server(catcher) as port:
        yield catcher, port


def desk(engine: Engine) -> Principal:
    with transaction(engine) as s:
        brand = create_brand(s, "acme", "Acme Air", ["acmeair"], {"email": [SUPPORT]})
        user = create_user(s, "jo@acme.example", "Jo Agent", "correct horse battery",
                           {brand.id: Role.AGENT})  # fmt: skip
        principal = load_principal(s, user.id)
        assert principal is not None
        return principal


def mail(
    text: str, message_id: str, refs: str | None = None, sender: str | None = None
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender if sender is not None else "Alice Doe <alice@example.org>"
    msg["To"] = f"Acme Air Support <{SUPPORT}>"
    msg["Subject"] = "Refund for flight 212" if refs is None else "Re: Refund for flight 212"
    msg["Message-ID"] = message_id
    if refs:
        msg["In-Reply-To"] = refs.split()[-1]
        msg["References"] = refs
    msg.set_content(text)
    return msg


def conversations(engine: Engine) -> list[tuple[int, str, bool, list[str]]]:
    with transaction(engine) as s:
        out = []
        for conv in s.scalars(select(Conversation).order_by(Conversation.id)):
            texts = [p.text for p in conversations_repo.thread(s, conv.id)]
            out.append((conv.id, conv.status.value, conv.private, texts))
        return out


def test_support_mail_is_a_private_conversation_answered_by_email_once(
    engine: Engine, relay: tuple[Catcher, int]
) -> None:
    catcher, relay_port = relay
    agent = desk(engine)
    inbound = InboundHandler(engine, SECRET)
    first = mail("My refund never came. Booking QX7P2.", "<m1@example.org>")
    with smtp_server(inbound) as port, smtplib.SMTP("127.0.0.1", port) as client:
        client.send_message(first)
        client.send_message(first)  # delivered twice: filed once
    [(conv_id, status, private, texts)] = conversations(engine)
    assert (status, private, texts) == ("new", True, ["My refund never came. Booking QX7P2."])
    with transaction(engine) as s:
        conv = s.get(Conversation, conv_id)
        assert conv is not None and conv.subject == "Refund for flight 212"
        ident = s.scalar(select(Identity).where(Identity.network == "email"))
        assert ident is not None and ident.external_id == "alice@example.org"

    # The agent answers in the inbox; the worker sends it by email, once.
    with transaction(engine) as s:
        state = conversations_repo.state(s, conv_id)
        assert state is not None
        replies.queue_reply(s, agent, conv_id, "Refund issued today.", state.version)
    cfg = HandoffSettings(secret_key=SECRET, smtp_host="127.0.0.1", smtp_port=relay_port,
                          reply_domain="reply.acme.example")  # fmt: skip
    worker = OutboundWorker(engine, senders={"email": SmtpSender(cfg)})
    asyncio.run(worker.drain(idle_s=0.0))
    asyncio.run(worker.drain(idle_s=0.0))
    [(rcpt, sent)] = catcher.messages
    assert rcpt == ["alice@example.org"]
    assert str(sent["From"]) == f"Acme Air <{SUPPORT}>"
    assert str(sent["In-Reply-To"]) == "<m1@example.org>"
    assert str(sent["Subject"]) == "Re: Refund for flight 212"
    assert sent.get_content().strip() == "Refund issued today. ^JA"
    ours = str(sent["Message-ID"])

    # Resolved; her answer names our message in References: the same conversation, open.
    with transaction(engine) as s:
        conv = s.get(Conversation, conv_id)
        assert conv is not None
        conv.status = ConversationStatus.RESOLVED
    answer = mail("Thanks, got it!\n\nOn Mon, Acme wrote:\n> Refund issued", "<m2@example.org>",
                  refs=f"<m1@example.org> {ours}")  # fmt: skip
    with smtp_server(inbound) as port, smtplib.SMTP("127.0.0.1", port) as client:
        client.send_message(answer)
    [(same_id, status, _, texts)] = conversations(engine)
    assert same_id == conv_id and status == "open"
    assert texts == ["My refund never came. Booking QX7P2.", "Refund issued today. ^JA",
                     "Thanks, got it!"]  # fmt: skip
    with transaction(engine) as s:
        assert all(p.private for p in s.scalars(select(Post)))


def test_mail_to_an_unknown_address_or_without_sender_is_refused(engine: Engine) -> None:
    desk(engine)
    inbound = InboundHandler(engine, SECRET)
    with smtp_server(inbound) as port, smtplib.SMTP("127.0.0.1", port) as client:
        stray = mail("hello", "<x1@example.org>")
        del stray["To"]
        stray["To"] = "sales@acme.example"
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.send_message(stray)
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.send_message(mail("hello", "<x2@example.org>", sender="nobody"),
                                from_addr="bounce@example.org")  # fmt: skip
        assert refused.value.smtp_code == 550
    assert conversations(engine) == []
