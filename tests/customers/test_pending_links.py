"""Accounts revealed before they ever wrote are suggested too, through the production
path: an email handoff to an address the desk never heard from, and an X direct message
("my other X account is @otherone") before @otherone tweets. The agent accepts on the
customer card; when the account then writes (a support mail, a public tweet), its posts
are that customer's."""

from __future__ import annotations

import re
import smtplib

import pytest
from sqlalchemy import Engine, select, update

from earful.auth.service import create_user, load_principal
from earful.brands.service import create_brand
from earful.customers import links
from earful.customers.erasure import erase
from earful.db import transaction
from earful.handoff.mail import InboundHandler
from earful.models import Brand, Conversation, Identity, LinkSuggestion, Post, Role
from earful.sources import live
from earful.sources.service import add_source, run_source
from tests.engagement.test_private_channels import DANA, private_conversation
from tests.handoff.fake_smtp import smtp_server
from tests.handoff.test_support_mail import SUPPORT, mail
from tests.protocol.conftest import SECRET
from tests.protocol.fake_x import BRAND_ID, FakeX, tweet
from tests.protocol.server import serve
from tests.protocol.test_x import connector as x_connector
from tests.web.world import World, build_world, client, login

OTHER = "17874544"  # @otherone in the fake's users
NEW_ADDRESS = "anna.zero@example.org"


@pytest.fixture
def world(engine: Engine) -> World:
    w = build_world(engine)
    with transaction(engine) as s:
        s.execute(update(Brand).where(Brand.id == w.brand_a).values(handles={"email": [SUPPORT]}))
    return w


def identities(engine: Engine, network: str) -> list[tuple[str, int | None, int]]:
    """(external id, customer id, posts) of the network's accounts."""
    with transaction(engine) as s:
        rows = s.scalars(select(Identity).where(Identity.network == network)).all()
        return [
            (i.external_id, i.customer_id,
             len(s.scalars(select(Post.id).where(Post.identity_id == i.id)).all()))
            for i in rows
        ]  # fmt: skip


def test_an_email_handoff_suggests_the_address_and_its_later_mail_is_the_customers(
    engine: Engine, world: World
) -> None:
    conv = world.convs_a[0]  # @anna0 on Bluesky
    c = client(engine)
    csrf = login(c, "agent")
    form = {"channel": "email", "address": NEW_ADDRESS, "message": "Details by mail?"}
    r = c.post(f"/c/{conv}/handoff", data={**form, "csrf_token": csrf})
    assert r.status_code == 200, r.text
    # The address never wrote: it is suggested, as the account it will write from.
    assert identities(engine, "email") == [(NEW_ADDRESS, None, 0)]
    page = c.get(f"/c/{conv}").text
    assert re.search(
        rf"Same person\? email: <bdi>{re.escape(NEW_ADDRESS)}</bdi> — "
        rf"<bdi>the email handoff for @anna0 went to {re.escape(NEW_ADDRESS)}</bdi>",
        page,
    )
    form = re.search(rf'action="(/c/{conv}/link-suggestions/\d+/accept)"', page)
    assert form
    r = c.post(form[1], data={"csrf_token": csrf})
    assert r.status_code == 200, r.text
    [(_, customer, _)] = identities(engine, "email")
    assert customer is not None

    # Later she writes to the support address from it: a new conversation, hers.
    with smtp_server(InboundHandler(engine, SECRET)) as port, smtplib.SMTP("127.0.0.1", port) as m:
        m.send_message(mail("Still no refund.", "<z1@example.org>",
                            sender=f"Anna Zero <{NEW_ADDRESS}>"))  # fmt: skip
    assert identities(engine, "email") == [(NEW_ADDRESS, customer, 1)]
    with transaction(engine) as s:
        later = s.scalar(
            select(Conversation.id)
            .join(Identity, Identity.id == Conversation.identity_id)
            .where(Identity.external_id == NEW_ADDRESS)
        )
    assert later is not None
    page = c.get(f"/c/{conv}").text
    assert f'href="/c/{later}"' in page and "Same person?" not in page


def test_erasing_the_customer_takes_the_suggested_address_that_never_wrote(
    engine: Engine, world: World
) -> None:
    conv = world.convs_a[0]
    c = client(engine)
    csrf = login(c, "agent")
    form = {"channel": "email", "address": NEW_ADDRESS, "csrf_token": csrf}
    assert c.post(f"/c/{conv}/handoff", data=form).status_code == 200
    assert identities(engine, "email") == [(NEW_ADDRESS, None, 0)]
    with transaction(engine) as s:
        starter = s.scalar(
            select(Identity).join(Conversation, Conversation.identity_id == Identity.id)
            .where(Conversation.id == conv)
        )  # fmt: skip
        assert starter is not None
        erase(s, starter)
    assert identities(engine, "email") == []


def test_a_dm_naming_a_handle_that_never_wrote_suggests_it_and_its_tweet_joins_them(
    engine: Engine,
) -> None:
    with transaction(engine) as s:
        brand = create_brand(s, "acme", "Acme Air", ["acmeair"])
        user = create_user(s, "jo@acme.example", "Jo Agent", "correct horse battery",
                           {brand.id: Role.AGENT})  # fmt: skip
        agent = load_principal(s, user.id)
        brand_id = brand.id
    assert agent is not None
    server = FakeX(script=[("tweet", tweet("@acmeair flight 212 was a mess", author=OTHER))])
    with serve(server.app()) as host:
        with transaction(engine) as s:
            x_id = add_source(
                s, kind="x", name="x:acme", brand_id=brand_id, secret_key=SECRET,
                settings={"bearer_token": server.bearer, "queries": ["@acmeair"]},
            ).id  # fmt: skip
            dm_id = add_source(
                s, kind="x_dm", name="x-dms", brand_id=brand_id, secret_key=SECRET,
                settings={"user_token": server.user_token, "user_id": BRAND_ID,
                          "base_url": f"http://{host}"},
            ).id  # fmt: skip
        server.direct(DANA, "Dana here; my work X handle is @otherone, I may write from it.")
        server.direct(DANA, "My bag is lost, @acmeair")  # a bare handle nobody heard: nothing
        assert run_source(engine, dm_id, SECRET, poll_s=0.01, idle_timeout=0.2).ingested == 2

        dm_conv = private_conversation(engine, "x", DANA)
        with transaction(engine) as s:
            [suggestion] = links.suggestions(s, agent, dm_conv.id)
            pending = s.get(Identity, suggestion.other_id)
            assert pending is not None
            assert (pending.network, pending.handle) == ("x", "otherone")
            assert suggestion.reason == "their X message gives the X handle @otherone"
            links.decide(s, agent, dm_conv.id, suggestion.id, accept=True)
            pending_id = pending.id

        live.run(engine, x_connector(server, host), x_id)  # now @otherone tweets
    with transaction(engine) as s:
        dana = s.scalar(select(Identity).where(Identity.external_id == DANA))
        other = s.scalar(select(Identity).where(Identity.network == "x",
                                                Identity.external_id == OTHER))  # fmt: skip
        assert dana is not None and other is not None
        assert other.id == pending_id  # the placeholder took the account's id
        assert dana.customer_id is not None and other.customer_id == dana.customer_id
        public = s.scalar(select(Conversation).where(Conversation.identity_id == other.id))
        assert public is not None and not public.private
        assert s.scalars(select(LinkSuggestion.state)).all() == ["linked"]
