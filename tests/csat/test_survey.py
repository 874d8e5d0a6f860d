"""CSAT through the production path: an agent answers and resolves a complaint in the web
app, the outbound round surveys it on the network the customer used (or by the handoff
email), the customer follows the signed link and answers once, and the dashboard and its
CSV show the figure per brand, agent and network. Forged, malformed and expired links
store nothing."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update
from typer.testing import CliRunner

from earful.cli.main import app as cli
from earful.cli.outbound import Outbound, outbound_rounds
from earful.customers import service as customers
from earful.db import transaction
from earful.engagement.worker import OutboundWorker
from earful.handoff import service as handoff_service
from earful.handoff.config import HandoffSettings
from earful.handoff.mail import SmtpSender
from earful.models import ConversationState, CsatSurvey, Note, OutboundJob
from earful.models.base import utcnow
from earful.web.app import create_app
from tests.engagement.helpers import PASSWORD, Desk, complaint, mastodon_actors
from tests.fakes.network import FakeNetwork, serve
from tests.handoff.fake_smtp import Catcher, smtp_server

SECRET = "test-secret-key-0123456789abcdef"
LINK = re.compile(r"https://desk\.example/csat/([A-Za-z0-9_.\-]+)")
runner = CliRunner()


@pytest.fixture
def fake() -> FakeNetwork:
    return FakeNetwork()


@pytest.fixture
def base_url(fake: FakeNetwork) -> Iterator[str]:
    with serve(fake) as url:
        yield url


def web(engine: Engine) -> TestClient:
    return TestClient(create_app(engine, secret_key=SECRET, live=False),
                      base_url="https://testserver")  # fmt: skip


def sign_in(c: TestClient, email: str) -> str:
    page = c.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    r = c.post("/login", data={"email": email, "password": PASSWORD,
                               "csrf_token": token.group(1)}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303, r.text
    meta = re.search(r'name="csrf-token" content="([^"]+)"', c.get("/inbox").text)
    assert meta
    return meta.group(1)


def rounds(engine: Engine, base_url: str, cfg: HandoffSettings, **senders: object) -> None:
    """One round of `earful outbound run --once`: surveys queued, then sent."""
    worker = OutboundWorker(engine, actors=mastodon_actors(base_url), senders=senders)  # type: ignore[arg-type]
    out = Outbound(engine, worker, None, None, SECRET, cfg)
    asyncio.run(outbound_rounds(out, threading.Event(), once=True, sync_every=0))


def answer_and_resolve(c: TestClient, csrf: str, engine: Engine, desk: Desk) -> None:
    with engine.connect() as conn:
        version = conn.scalar(
            select(ConversationState.version).where(
                ConversationState.conversation_id == desk.conv_id
            )
        )
    h = {"X-CSRF-Token": csrf}
    r = c.post(f"/c/{desk.conv_id}/reply", data={"text": "Found it, Alice!",
               "version": str(version)}, headers=h)  # fmt: skip
    assert r.status_code == 200, r.text
    assert c.post(f"/c/{desk.conv_id}/status", data={"status": "resolved"},
                  headers=h).status_code == 200  # fmt: skip


def test_resolved_conversation_is_surveyed_answered_once_and_counted(
    engine: Engine, db_url: str, fake: FakeNetwork, base_url: str
) -> None:
    desk = complaint(engine, fake, base_url)
    turned_on = runner.invoke(
        cli, ["engagement", "csat", "acme", "--on", "--valid-days", "5", "--database", db_url]
    )
    assert turned_on.exit_code == 0, turned_on.output
    assert "surveys are on; links valid 5 days" in turned_on.output
    cfg = HandoffSettings(secret_key=SECRET, public_url="https://desk.example")

    c = web(engine)
    csrf = sign_in(c, "jane@acme.example")
    answer_and_resolve(c, csrf, engine, desk)
    rounds(engine, base_url, cfg)  # the reply goes out; the survey is queued and sent
    rounds(engine, base_url, cfg)  # a second round asks nothing again

    posted = [fake.statuses[i] for i in fake.posted]
    surveys = [p for p in posted if "/csat/" in str(p["content"])]
    assert len(posted) == 2 and len(surveys) == 1
    [survey] = surveys
    assert survey["in_reply_to_id"] == desk.post_sid  # on the network the customer used
    assert "How did we do?" in str(survey["content"])
    m = LINK.search(str(survey["content"]))
    assert m
    token = m.group(1)
    with transaction(engine) as s:
        notes = [
            n.text for n in s.scalars(select(Note).where(Note.conversation_id == desk.conv_id))
        ]
        assert any(n.startswith("Satisfaction survey sent: ") for n in notes), notes

    customer = web(engine)  # no login, no cookie
    page = customer.get(f"/csat/{token}")
    assert page.status_code == 200 and "How did <bdi>Acme Air</bdi> do?" in page.text
    assert 'name="score"' in page.text and "csrf" not in page.text
    # Tampered, malformed: a page that says so, and nothing stored.
    forged = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
    assert customer.post(f"/csat/{forged}", data={"score": "1"}).status_code == 403
    assert customer.get("/csat/not-a-token").status_code == 400
    bad = customer.post(f"/csat/{token}", data={"score": "9"})
    assert bad.status_code == 400 and "1 to 5" in bad.text
    with engine.connect() as conn:
        assert conn.scalar(select(CsatSurvey.answered_at)) is None

    done = customer.post(f"/csat/{token}", data={"score": "5", "comment": "<b>Great</b> crew"})
    assert done.status_code == 200 and "Thank you!" in done.text
    again = customer.post(f"/csat/{token}", data={"score": "1"})
    assert again.status_code == 409  # one answer per conversation
    assert "already" in customer.get(f"/csat/{token}").text
    with engine.connect() as conn:
        row = conn.execute(select(CsatSurvey.score, CsatSurvey.comment)).one()
    assert tuple(row) == (5, "<b>Great</b> crew")

    board = c.get("/api/v1/brands/acme/dashboard").json()["csat"]
    assert (board["brand"]["sent"], board["brand"]["answered"]) == (1, 1)
    assert board["brand"]["average"] == 5.0 and board["brand"]["satisfied_pct"] == 100.0
    assert [(a["name"], a["answered"]) for a in board["agents"]] == [("Jane Smith", 1)]
    assert [(n["key"], n["average"]) for n in board["networks"]] == [("mastodon", 5.0)]
    html = c.get("/brands/acme/dashboard").text
    assert "Customer satisfaction" in html and "Jane Smith" in html
    rows = list(csv.reader(io.StringIO(c.get("/brands/acme/dashboard.csv?chart=csat").text)))
    assert rows[0][:5] == ["scope", "key", "name", "sent", "answered"]
    assert ["brand", "acme", "Acme Air", "1", "1", "5.0", "100.0", "100.0"] in rows
    assert ["network", "mastodon", "mastodon", "1", "1", "5.0", "100.0", "100.0"] in rows


def test_a_handed_off_case_is_surveyed_by_email_and_links_expire(
    engine: Engine, fake: FakeNetwork, base_url: str
) -> None:
    catcher = Catcher()
    with smtp_server(catcher) as port:
        cfg = HandoffSettings(secret_key=SECRET, public_url="https://desk.example",
                              smtp_host="127.0.0.1", smtp_port=port,
                              mail_from="care@acme.example",
                              reply_domain="r.acme.example")  # fmt: skip
        desk = complaint(engine, fake, base_url)
        with transaction(engine) as s:
            from earful.csat.service import set_csat

            set_csat(s, desk.brand_id, enabled=True, valid_days=1)
            customers.set_preferred_channel(s, desk.agent, desk.conv_id, "email",
                                            "alice@example.org")  # fmt: skip
            handoff_service.handoff_preferred(s, desk.agent, desk.conv_id, cfg, "Tag number?")
        c = web(engine)
        csrf = sign_in(c, "jane@acme.example")
        assert c.post(f"/c/{desk.conv_id}/status", data={"status": "resolved"},
                      headers={"X-CSRF-Token": csrf}).status_code == 200  # fmt: skip
        rounds(engine, base_url, cfg, email=SmtpSender(cfg))
        rounds(engine, base_url, cfg, email=SmtpSender(cfg))
    assert fake.posted == []  # nothing public: the case went to email
    assert len(catcher.messages) == 2  # the handoff and the survey (sent concurrently)
    [(rcpt, mail)] = [m for m in catcher.messages if "how did we do?" in str(m[1]["Subject"])]
    assert rcpt == ["alice@example.org"] and "how did we do?" in str(mail["Subject"])
    assert str(mail["Auto-Submitted"]) == "auto-generated"
    m = LINK.search(mail.get_content())
    assert m
    with engine.connect() as conn:
        job = conn.execute(select(OutboundJob.kind, OutboundJob.network).where(
            OutboundJob.idempotency_key == f"csat-{desk.conv_id}")).one()  # fmt: skip
        assert tuple(job) == ("handoff", "email")
    with transaction(engine) as s:  # two days later the one-day link has expired
        s.execute(update(CsatSurvey).values(expires_at=utcnow() - timedelta(minutes=1)))
    customer = web(engine)
    expired = customer.post(f"/csat/{m.group(1)}", data={"score": "4"})
    assert expired.status_code == 403 and "expired" in expired.text
    with engine.connect() as conn:
        assert conn.scalar(select(CsatSurvey.score)) is None


def test_the_answer_page_is_rate_limited(engine: Engine) -> None:
    c = web(engine)
    codes = [c.get("/csat/not-a-token").status_code for _ in range(31)]
    assert codes[:30] == [400] * 30 and codes[30] == 429
