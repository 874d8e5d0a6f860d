"""A complaint, a signed public answer, a handoff by email, the customer's answer back."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from sqlalchemy import Engine

from earful.customers import service as customers
from earful.db import transaction
from earful.engagement import service as replies
from earful.engagement.worker import OutboundWorker
from earful.handoff import service as handoff_service
from earful.handoff.config import HandoffSettings
from earful.handoff.mail import InboundHandler, SmtpSender
from earful.inbox import service as inbox
from earful.models import Handoff, JobState, Note, OutboundJob
from tests.engagement.helpers import complaint, mastodon_actors
from tests.fakes.network import FakeNetwork, serve
from tests.handoff.fake_smtp import Catcher, smtp_server

SECRET = "handoff-test-secret"


@pytest.fixture
def fake() -> FakeNetwork:
    return FakeNetwork()


@pytest.fixture
def base_url(fake: FakeNetwork) -> Iterator[str]:
    with serve(fake) as url:
        yield url


@pytest.fixture
def relay() -> Iterator[tuple[Catcher, int]]:
    catcher = Catcher()
    with smtp_server(catcher) as port:
        yield catcher, port


def settings(port: int) -> HandoffSettings:
    return HandoffSettings(
        secret_key=SECRET,
        smtp_host="127.0.0.1",
        smtp_port=port,
        mail_from="care@acme.example",
        reply_domain="reply.acme.example",
        public_url="https://earful.acme.example",
    )


def test_complaint_to_email_and_back(
    engine: Engine, fake: FakeNetwork, base_url: str, relay: tuple[Catcher, int]
) -> None:
    catcher, port = relay
    cfg = settings(port)
    # 1. A complaint arrives (heard on the network, stored by the pipeline).
    desk = complaint(engine, fake, base_url)
    worker = OutboundWorker(
        engine,
        actors=mastodon_actors(base_url),
        senders={"email": SmtpSender(cfg)},
        backoff_base=0.05,
    )
    with transaction(engine) as s:
        s.add(Note(conversation_id=desk.conv_id, brand_id=desk.brand_id, text="VIP, refund ok"))

    # 2. The agent answers in public, signed; the worker posts it on the network.
    with transaction(engine) as s:
        replies.reply(s, desk.agent, desk.conv_id, "So sorry, Alice! We'll find your bag.")
    assert asyncio.run(worker.drain()).sent == 1
    [public] = [fake.statuses[i] for i in fake.posted]
    assert "We'll find your bag. ^JS" in str(public["content"])
    assert public["in_reply_to_id"] == desk.post_sid

    # 3. The customer prefers email; the agent records it and hands off.
    with transaction(engine) as s:
        customers.set_preferred_channel(s, desk.agent, desk.conv_id, "email", "alice@example.org")
        h = handoff_service.handoff_preferred(
            s, desk.agent, desk.conv_id, cfg, "Could you send us your baggage tag number?"
        )
        handoff_id = h.id
    assert asyncio.run(worker.drain()).sent == 1

    [(rcpt, mail)] = catcher.messages
    assert rcpt == ["alice@example.org"]
    body = mail.get_content()
    assert "Lost my bag on flight 212" in body  # the complaint...
    assert "We'll find your bag. ^JS" in body  # ...our public answer...
    assert "baggage tag number" in body  # ...and the agent's question
    assert "VIP" not in body  # internal notes never reach the customer
    reply_to = str(mail["Reply-To"])
    assert reply_to.startswith("reply+c") and reply_to.endswith("@reply.acme.example")

    # 4. The customer answers by email; Earful's inbound SMTP server files it.
    inbound = InboundHandler(engine, SECRET)
    with smtp_server(inbound) as inbound_port:
        answer = EmailMessage()
        answer["From"] = "Alice Doe <alice@example.org>"
        answer["To"] = reply_to
        answer["Subject"] = "Re: " + str(mail["Subject"])
        answer["In-Reply-To"] = str(mail["Message-ID"])
        answer["Message-ID"] = "<answer-1@example.org>"
        answer.set_content(
            "My tag is AC123456.\n\nOn Mon, Acme Air <care@acme.example> wrote:\n> Our conversation"
        )
        with smtplib.SMTP("127.0.0.1", inbound_port) as client:
            client.send_message(answer)
            client.send_message(answer)  # delivered twice: filed once
    assert inbound.stored == 2

    # 5. The agent sees it in the same conversation, waiting for an answer.
    with transaction(engine) as s:
        view = inbox.view(s, desk.agent, desk.conv_id)
        texts = [p.text for p in view.posts]
        assert texts.count("My tag is AC123456.") == 1
        assert texts[0].startswith("Lost my bag")
        assert view.state.waiting_since is not None
        handoff_row = s.get(Handoff, handoff_id)
        assert handoff_row is not None and handoff_row.external_id == str(mail["Message-ID"])
        job = s.query(OutboundJob).filter_by(handoff_id=handoff_id).one()
        assert job.state == JobState.SENT


def test_unknown_address_is_refused_by_the_inbound_server(engine: Engine) -> None:
    inbound = InboundHandler(engine, SECRET)
    with smtp_server(inbound) as port, smtplib.SMTP("127.0.0.1", port) as client:
        refused = pytest.raises(smtplib.SMTPRecipientsRefused)
        with refused:
            client.sendmail("x@example.org", ["reply+c1-aaaaaaaaaaaaaaaa@r.example"], b"hi")
    assert inbound.stored == 0
