"""Linking a customer's accounts through the routes an agent uses, audited; and the
suggestion an email answering a handoff raises (mail in over SMTP)."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import pytest
from sqlalchemy import Engine, select

from earful.db import transaction
from earful.handoff import tokens
from earful.handoff.mail import InboundHandler
from earful.models import AuditEvent, Conversation, Identity
from tests.handoff.fake_smtp import smtp_server
from tests.web.world import World, build_world, client, login

MAIL_SECRET = "links-test-secret"


@pytest.fixture
def world(engine: Engine) -> World:
    return build_world(engine)


def customer_of(engine: Engine, network: str, external_id: str) -> int | None:
    with transaction(engine) as s:
        return s.scalar(
            select(Identity.customer_id).where(
                Identity.network == network, Identity.external_id == external_id
            )
        )


def actions(engine: Engine) -> list[str]:
    with transaction(engine) as s:
        return list(s.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_an_agent_links_and_unlinks_two_accounts_and_the_history_shows_both(
    engine: Engine, world: World
) -> None:
    c = client(engine)
    csrf = login(c, "agent")
    conv, other = world.convs_a[0], world.convs_a[1]
    with transaction(engine) as s:
        anna1 = s.scalar(select(Conversation.identity_id).where(Conversation.id == other))
        ident = s.get(Identity, anna1)
        assert ident is not None
        handle = ident.handle or ident.external_id
    r = c.post(f"/c/{conv}/links", data={"network": "bluesky", "account": handle,
                                          "csrf_token": csrf})  # fmt: skip
    assert r.status_code == 200, r.text  # back on the conversation
    page = c.get(f"/c/{conv}").text
    assert f'href="/c/{other}"' in page  # her other conversation, under the one customer
    assert "Unlink" in page
    assert customer_of(engine, "bluesky", ident.external_id) is not None

    headers = {"X-CSRF-Token": csrf}
    r = c.post(f"/api/v1/conversations/{conv}/links/{anna1}/unlink", headers=headers)
    assert r.status_code == 200 and r.json()["id"] == anna1
    assert customer_of(engine, "bluesky", ident.external_id) is None
    assert f'href="/c/{other}"' not in c.get(f"/c/{conv}").text
    # An account this brand never heard cannot be linked.
    r = c.post(f"/api/v1/conversations/{conv}/links", headers=headers,
               json={"network": "bluesky", "account": "stranger"})  # fmt: skip
    assert r.status_code == 404
    assert actions(engine)[-2:] == ["customer.link", "customer.unlink"]


def test_an_email_answering_a_handoff_suggests_the_link_and_the_agent_accepts(
    engine: Engine, world: World
) -> None:
    conv = world.convs_a[0]
    address = tokens.reply_address(conv, MAIL_SECRET, "reply.acme.example")
    answer = EmailMessage()
    answer["From"] = "Anna Zero <anna@example.org>"
    answer["To"] = address
    answer["Subject"] = "Re: your flight"
    answer["Message-ID"] = "<anna-1@example.org>"
    answer.set_content("My booking is QX7P2.")
    with (
        smtp_server(InboundHandler(engine, MAIL_SECRET)) as port,
        smtplib.SMTP("127.0.0.1", port) as smtp,
    ):
        smtp.send_message(answer)
    assert customer_of(engine, "email", "anna@example.org") is None  # only suggested

    c = client(engine)
    csrf = login(c, "agent")
    headers = {"X-CSRF-Token": csrf}
    [suggestion] = c.get(f"/api/v1/conversations/{conv}/link-suggestions").json()
    assert suggestion["reason"].startswith("anna@example.org answered the email handoff")
    assert "Same person?" in c.get(f"/c/{conv}").text
    r = c.post(
        f"/api/v1/conversations/{conv}/link-suggestions/{suggestion['id']}/accept",
        headers=headers,
    )
    assert r.status_code == 200 and r.json()["state"] == "linked"
    with transaction(engine) as s:
        starter = s.scalar(select(Conversation.identity_id).where(Conversation.id == conv))
        linked = s.scalar(select(Identity.customer_id).where(Identity.id == starter))
    assert linked is not None and customer_of(engine, "email", "anna@example.org") == linked
    assert c.get(f"/api/v1/conversations/{conv}/link-suggestions").json() == []
    assert actions(engine)[-1] == "customer.link"


def test_the_operator_links_and_unlinks_accounts_from_the_command_line(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from earful.cli.main import app

    world = build_world(sqlite_engine)
    monkeypatch.setenv("EARFUL_DATABASE_URL", sqlite_engine.url.render_as_string(False))
    with transaction(sqlite_engine) as s:
        a, b = (
            s.scalar(select(Identity).join(Conversation, Conversation.identity_id == Identity.id)
                     .where(Conversation.id == c))
            for c in world.convs_a[:2]
        )  # fmt: skip
        assert a is not None and b is not None
        a_id, b_id, b_handle = a.external_id, b.external_id, b.handle or ""
    runner = CliRunner()
    done = runner.invoke(
        app,
        ["customers", "link", "bluesky", "--id", a_id, "--to-network", "bluesky", "--to", b_handle],
    )
    assert done.exit_code == 0, done.output
    linked = customer_of(sqlite_engine, "bluesky", a_id)
    assert linked is not None and customer_of(sqlite_engine, "bluesky", b_id) == linked
    done = runner.invoke(app, ["customers", "unlink", "bluesky", "--id", b_id])
    assert done.exit_code == 0, done.output
    assert customer_of(sqlite_engine, "bluesky", b_id) is None
    assert actions(sqlite_engine)[-2:] == ["customer.link", "customer.unlink"]
