"""A direct message that reveals another account of its writer raises a link suggestion,
through the production path: a support mail (SMTP) and a public tweet are heard, then
an X direct message polled from ``GET /2/dm_events`` gives the mail's address and names
the tweet's @handle; the agent sees both suggestions and accepts one."""

from __future__ import annotations

import smtplib

from sqlalchemy import Engine, select

from earful.auth.service import create_user, load_principal
from earful.brands.service import create_brand
from earful.customers import links
from earful.db import transaction
from earful.handoff.mail import InboundHandler
from earful.models import Identity, LinkSuggestion, Role
from earful.sources import live
from earful.sources.service import add_source, run_source
from tests.engagement.test_private_channels import DANA, private_conversation
from tests.handoff.fake_smtp import smtp_server
from tests.handoff.test_support_mail import SUPPORT, mail
from tests.protocol.conftest import SECRET
from tests.protocol.fake_x import BRAND_ID, FakeX, tweet
from tests.protocol.server import serve
from tests.protocol.test_x import connector as x_connector

OTHER = "17874544"  # @otherone in the fake's users


def test_a_dm_giving_an_email_address_and_a_handle_suggests_both_links(engine: Engine) -> None:
    with transaction(engine) as s:
        brand = create_brand(s, "acme", "Acme Air", ["acmeair"], {"email": [SUPPORT]})
        user = create_user(s, "jo@acme.example", "Jo Agent", "correct horse battery",
                           {brand.id: Role.AGENT})  # fmt: skip
        agent = load_principal(s, user.id)
        brand_id = brand.id
    assert agent is not None
    with smtp_server(InboundHandler(engine, SECRET)) as port, smtplib.SMTP("127.0.0.1", port) as c:
        c.send_message(mail("Where is my refund?", "<m1@example.org>"))  # alice@example.org

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
        live.run(engine, x_connector(server, host), x_id)  # @otherone's public tweet
        server.direct(DANA, "Alice here. My email is Alice@Example.org, I also tweet as @otherone.")
        server.direct(DANA, "Again: alice@example.org")  # the same address: no second one
        server.direct(DANA, "And @nobody_we_know is my sister")  # never heard: nothing
        summary = run_source(engine, dm_id, SECRET, poll_s=0.01, idle_timeout=0.2)
        assert summary.ingested == 3

    dm_conv = private_conversation(engine, "x", DANA)
    with transaction(engine) as s:
        found = links.suggestions(s, agent, dm_conv.id)
        named, ids = {}, {}
        for suggestion in found:
            other = s.get(Identity, suggestion.other_id)
            assert other is not None and suggestion.state == "open"
            named[(other.network, other.external_id)] = suggestion.reason
            ids[other.network] = suggestion.id
    assert named == {
        ("email", "alice@example.org"): "their X message gives the address alice@example.org",
        ("x", OTHER): "their X message names @otherone",
    }

    with transaction(engine) as s:  # the agent accepts the address: one customer
        links.decide(s, agent, dm_conv.id, ids["email"], accept=True)
    with transaction(engine) as s:
        dana = s.scalar(select(Identity).where(Identity.external_id == DANA))
        alice = s.scalar(select(Identity).where(Identity.external_id == "alice@example.org"))
        assert dana is not None and alice is not None
        assert dana.customer_id is not None and dana.customer_id == alice.customer_id
        states = sorted(s.scalars(select(LinkSuggestion.state)))
    assert states == ["linked", "open"]
