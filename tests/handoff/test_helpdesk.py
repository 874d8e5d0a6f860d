"""Zendesk, Help Scout and the signed webhook, end to end against their local fakes.

A handoff is queued by the service, sent by the outbound worker through the real client
over real HTTP, and every fault (429 with its header, 5xx, a timeout after the ticket was
created, a dropped connection) still ends with exactly one ticket and a true job state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select

from earful.conversations import repository as conversations_repo
from earful.db import transaction
from earful.engagement.worker import OutboundWorker, Sender
from earful.handoff import service as handoff_service
from earful.handoff import sync
from earful.handoff.config import HandoffSettings
from earful.handoff.helpdesk import HelpScoutClient, ZendeskClient
from earful.handoff.webhook import WebhookSender
from earful.models import Conversation, Handoff, JobState, Note, OutboundJob
from tests.engagement.helpers import Desk, complaint
from tests.fakes.network import FakeNetwork, serve
from tests.handoff.fake_helpdesk import FakeHelpScout, FakeReceiver, FakeZendesk

LINK = "https://earful.acme.example"


@pytest.fixture
def desk(engine: Engine) -> Desk:
    d = complaint(engine, FakeNetwork(), "http://fake.social", email="alice@example.org")
    with transaction(engine) as s:
        s.add(Note(conversation_id=d.conv_id, brand_id=d.brand_id, text="VIP, refund ok"))
        conv = s.get(Conversation, d.conv_id)
        assert conv is not None
        conversations_repo.add_tag(s, conv, "baggage")
    return d


@pytest.fixture
def zendesk() -> Iterator[tuple[FakeZendesk, str]]:
    fake = FakeZendesk(hang_s=1.5)
    with serve(fake) as url:
        yield fake, url


@pytest.fixture
def helpscout() -> Iterator[tuple[FakeHelpScout, str]]:
    fake = FakeHelpScout(hang_s=1.5)
    with serve(fake) as url:
        yield fake, url


@pytest.fixture
def receiver() -> Iterator[tuple[FakeReceiver, str]]:
    fake = FakeReceiver(hang_s=1.5)
    with serve(fake) as url:
        yield fake, url


def cfg(**kw: Any) -> HandoffSettings:
    return HandoffSettings(secret_key="s", public_url=LINK, **kw)


def hand_off(desk: Desk, channel: str, settings: HandoffSettings, **kw: Any) -> int:
    with transaction(desk.engine) as s:
        return handoff_service.handoff(s, desk.agent, desk.conv_id, channel, settings, **kw).id


def worker(desk: Desk, channel: str, sender: Sender) -> OutboundWorker:
    return OutboundWorker(
        desk.engine,
        senders={channel: sender},
        backoff_base=0.05,
        backoff_cap=0.2,
        attempt_timeout=0.5,
    )


def drain(w: OutboundWorker) -> None:
    asyncio.run(w.drain(idle_s=1.5))


def job_of(desk: Desk, handoff_id: int) -> tuple[OutboundJob, Handoff]:
    with transaction(desk.engine) as s:
        job = s.scalars(select(OutboundJob).where(OutboundJob.handoff_id == handoff_id)).one()
        h = s.get(Handoff, handoff_id)
        assert h is not None
        s.expunge_all()
        return job, h


def conversation(desk: Desk) -> tuple[list[conversations_repo.ThreadPost], list[str]]:
    with transaction(desk.engine) as s:
        posts = conversations_repo.thread(s, desk.conv_id)
        notes = [n.text for n, _ in conversations_repo.notes(s, desk.conv_id)]
        return posts, notes


# ------------------------------------------------------------------ Zendesk


def zd(url: str) -> tuple[HandoffSettings, ZendeskClient]:
    settings = cfg(zendesk_url=url, zendesk_email="agent@acme.example", zendesk_token="zd-token")
    return settings, ZendeskClient(url, "agent@acme.example", "zd-token")


def test_zendesk_ticket_carries_everything_and_links_both_ways(
    desk: Desk, zendesk: tuple[FakeZendesk, str]
) -> None:
    fake, url = zendesk
    settings, client = zd(url)
    hid = hand_off(desk, "zendesk", settings, message="Please refund the bag fee.")
    drain(worker(desk, "zendesk", client))

    [ticket] = fake.tickets.values()
    [comment] = fake.comments[ticket["id"]]
    body = comment["body"]
    assert comment["public"] is False  # the team transcript is internal
    assert "Lost my bag on flight 212" in body  # every post...
    assert "negative, complaint, urgency 2" in body  # ...with its labels...
    assert "VIP, refund ok" in body  # ...every note...
    assert "baggage" in body and "baggage" in ticket["tags"]  # ...and label (tag)
    assert ticket["external_id"] == f"{LINK}/conversations/{desk.conv_id}"  # ticket → us
    assert fake.users[ticket["requester_id"]]["email"] == "alice@example.org"
    job, h = job_of(desk, hid)
    assert job.state == JobState.SENT and job.attempts == 1
    assert h.external_id == str(ticket["id"])  # us → ticket
    assert h.external_url == f"{url}/agent/tickets/{ticket['id']}"

    # Updates on the ticket come back: public comments as posts, private ones as notes.
    fake.add_comment(ticket["id"], "We refunded the fee, Alice.")
    fake.add_comment(ticket["id"], "Thanks, got it!", by="requester")
    fake.add_comment(ticket["id"], "Refund approved by finance", public=False)
    first = asyncio.run(sync.pull(desk.engine, zendesk=client))
    again = asyncio.run(sync.pull(desk.engine, zendesk=client))
    assert (first.posts, first.notes) == (2, 1)
    assert (again.posts, again.notes) == (0, 0)  # pulled twice, stored once
    posts, notes = conversation(desk)
    mine = [(p.text, p.from_brand, p.network) for p in posts if p.network == "zendesk"]
    assert mine == [
        ("We refunded the fee, Alice.", True, "zendesk"),
        ("Thanks, got it!", False, "zendesk"),
    ]
    assert any(n.startswith("Zendesk note by Zed Agent: Refund approved") for n in notes)


@pytest.mark.parametrize("fault", ["429", "500", "timeout", "drop"])
def test_zendesk_faults_end_with_one_ticket(
    desk: Desk, zendesk: tuple[FakeZendesk, str], fault: str
) -> None:
    fake, url = zendesk
    settings, client = zd(url)
    fake.faults.extend([fault])
    hid = hand_off(desk, "zendesk", settings)
    drain(worker(desk, "zendesk", client))
    assert fake.created == 1 and len(fake.tickets) == 1
    job, h = job_of(desk, hid)
    assert job.state == JobState.SENT and job.attempts == 2
    assert h.external_id == str(next(iter(fake.tickets)))


def test_zendesk_429_waits_for_retry_after(desk: Desk, zendesk: tuple[FakeZendesk, str]) -> None:
    fake, url = zendesk
    settings, client = zd(url)
    fake.faults.append("429")
    hand_off(desk, "zendesk", settings)
    w = worker(desk, "zendesk", client)
    summary = asyncio.run(w.run_once())
    assert summary.retried == 1
    with transaction(desk.engine) as s:
        job = s.scalars(select(OutboundJob)).one()
        wait = (job.next_attempt_at - job.updated_at).total_seconds()
        assert 0.9 <= wait <= 1.1  # the header's 1 s, not our 0.05 s backoff
        assert "429" in (job.reason or "")


def test_zendesk_record_invalid_fails_with_its_details(
    desk: Desk, zendesk: tuple[FakeZendesk, str]
) -> None:
    fake, url = zendesk
    settings, client = zd(url)
    hid = hand_off(desk, "zendesk", settings)
    with transaction(desk.engine) as s:  # an address Zendesk refuses and we could not know
        job = s.scalars(select(OutboundJob)).one()
        job.payload = dict(job.payload, requester_email="alice@localhost")
    drain(worker(desk, "zendesk", client))
    job, _ = job_of(desk, hid)
    assert job.state == JobState.FAILED and job.attempts == 1
    assert job.reason == (
        "Zendesk RecordInvalid: Record validation errors "
        "(requester: Requester: Email is not properly formatted)"
    )
    assert fake.created == 0


def test_zendesk_bad_token_fails_as_credentials(
    desk: Desk, zendesk: tuple[FakeZendesk, str]
) -> None:
    _, url = zendesk
    settings, _ = zd(url)
    hid = hand_off(desk, "zendesk", settings)
    drain(worker(desk, "zendesk", ZendeskClient(url, "agent@acme.example", "wrong")))
    job, _ = job_of(desk, hid)
    assert job.state == JobState.FAILED
    assert job.reason == "credentials refused: Zendesk Couldn't authenticate you"


# ------------------------------------------------------------------ Help Scout


def hs(url: str) -> tuple[HandoffSettings, HelpScoutClient]:
    settings = cfg(
        helpscout_url=url,
        helpscout_client_id="hs-id",
        helpscout_client_secret="hs-secret",
        helpscout_mailbox_id=85,
    )
    return settings, HelpScoutClient(url, "hs-id", "hs-secret", 85)


def test_helpscout_conversation_end_to_end(
    desk: Desk, helpscout: tuple[FakeHelpScout, str]
) -> None:
    fake, url = helpscout
    settings, client = hs(url)
    hid = hand_off(desk, "helpscout", settings, message="Refund on its way.")
    drain(worker(desk, "helpscout", client))
    [(cid, conv)] = fake.conversations.items()
    note, customer = fake.threads[cid]
    assert note["type"] == "note" and "VIP, refund ok" in note["body"]
    assert (
        "negative, complaint" in note["body"] and f"/conversations/{desk.conv_id}" in note["body"]
    )
    assert customer["type"] == "customer" and "VIP" not in customer["body"]
    assert "Refund on its way." in customer["body"]
    assert f"earful-h{hid}" in conv["tags"] and "baggage" in conv["tags"]
    assert conv["primaryCustomer"]["email"] == "alice@example.org"
    job, h = job_of(desk, hid)
    assert job.state == JobState.SENT and h.external_id == str(cid)

    fake.expire_tokens()  # the next call earns a 401 and fetches a new token
    fake.add_thread(cid, "Your refund is processed.", "message")
    fake.add_thread(cid, "Thank you!", "customer")
    fake.add_thread(cid, "closed the loop", "note")
    first = asyncio.run(sync.pull(desk.engine, helpscout=client))
    again = asyncio.run(sync.pull(desk.engine, helpscout=client))
    assert (first.posts, first.notes, again.posts, again.notes) == (2, 1, 0, 0)
    posts, notes = conversation(desk)
    mine = [(p.text, p.from_brand) for p in posts if p.network == "helpscout"]
    assert mine == [("Your refund is processed.", True), ("Thank you!", False)]
    assert "Help Scout note by Hana Lee: closed the loop" in notes


@pytest.mark.parametrize("fault", ["429", "500", "timeout", "drop"])
def test_helpscout_faults_end_with_one_conversation(
    desk: Desk, helpscout: tuple[FakeHelpScout, str], fault: str
) -> None:
    fake, url = helpscout
    settings, client = hs(url)
    hid = hand_off(desk, "helpscout", settings)
    # The token request is a POST too: fault the conversation's creation, not the token.
    asyncio.run(client.token())
    fake.faults.append(fault)
    drain(worker(desk, "helpscout", client))
    assert fake.created == 1 and len(fake.conversations) == 1
    job, h = job_of(desk, hid)
    assert job.state == JobState.SENT and job.attempts == 2
    assert h.external_id == str(next(iter(fake.conversations)))


def test_helpscout_429_uses_its_retry_header(
    desk: Desk, helpscout: tuple[FakeHelpScout, str]
) -> None:
    fake, url = helpscout
    settings, client = hs(url)
    hand_off(desk, "helpscout", settings)
    asyncio.run(client.token())
    fake.faults.append("429")
    summary = asyncio.run(worker(desk, "helpscout", client).run_once())
    assert summary.retried == 1
    with transaction(desk.engine) as s:
        job = s.scalars(select(OutboundJob)).one()
        assert 0.9 <= (job.next_attempt_at - job.updated_at).total_seconds() <= 1.1


def test_helpscout_validation_error_fails_with_paths(
    desk: Desk, helpscout: tuple[FakeHelpScout, str]
) -> None:
    fake, url = helpscout
    settings, _ = hs(url)
    hid = hand_off(desk, "helpscout", settings)
    drain(worker(desk, "helpscout", HelpScoutClient(url, "hs-id", "hs-secret", 999)))
    job, _ = job_of(desk, hid)
    assert job.state == JobState.FAILED
    assert job.reason == "Help Scout Validation error: Invalid request (mailboxId: Invalid mailbox)"
    assert fake.created == 0


# ------------------------------------------------------------------ webhook


def test_webhook_is_signed_and_delivered_once_through_faults(
    desk: Desk, receiver: tuple[FakeReceiver, str]
) -> None:
    fake, url = receiver
    settings = cfg(webhook_url=url + "/hooks/earful", webhook_secret="hook-secret")
    fake.faults.extend(["429", "500", "timeout", "drop"])
    hid = hand_off(desk, "webhook", settings, message="Escalate please")
    sender = WebhookSender(url + "/hooks/earful", "hook-secret")
    w = worker(desk, "webhook", sender)
    w.attempt_timeout = 0.5
    drain(w)
    assert fake.refused == 0
    [(delivery, doc)] = fake.deliveries.items()
    assert doc["message"] == "Escalate please" and doc["conversation_id"] == desk.conv_id
    texts = [e["text"] for e in doc["transcript"]["entries"]]
    assert texts[0].startswith("Lost my bag")
    assert doc["transcript"]["notes"][0]["text"] == "VIP, refund ok"
    job, h = job_of(desk, hid)
    assert job.state == JobState.SENT and job.attempts == 5 and delivery == job.idempotency_key
    assert (h.external_id, h.external_url) == ("case-1", "https://cases.example/1")


def test_webhook_with_the_wrong_secret_fails_clearly(
    desk: Desk, receiver: tuple[FakeReceiver, str]
) -> None:
    fake, url = receiver
    settings = cfg(webhook_url=url, webhook_secret="hook-secret")
    hid = hand_off(desk, "webhook", settings)
    drain(worker(desk, "webhook", WebhookSender(url, "not-the-secret")))
    job, _ = job_of(desk, hid)
    assert job.state == JobState.FAILED and "refused our signature" in (job.reason or "")
    assert fake.refused == 1 and not fake.deliveries


def test_helpscout_spent_minute_quota_defers_without_a_request(
    desk: Desk, helpscout: tuple[FakeHelpScout, str]
) -> None:
    fake, url = helpscout
    fake.limit = 1  # one request this minute: the creation spends it
    settings, client = hs(url)
    first = hand_off(desk, "helpscout", settings)
    second = hand_off(desk, "helpscout", settings)
    w = worker(desk, "helpscout", client)
    w.concurrency = 1  # one after the other: the second sees the spent quota
    summary = asyncio.run(w.run_once())
    assert (summary.sent, summary.retried) == (1, 1)
    assert fake.created == 1 and fake.rejected == 0, fake.requests  # no 429 earned
    states = {job_of(desk, h)[0].state for h in (first, second)}
    assert states == {JobState.SENT, JobState.QUEUED}
    [waiting] = [job_of(desk, h)[0] for h in (first, second) if job_of(desk, h)[0].reason]
    assert "quota is spent" in (waiting.reason or "")
