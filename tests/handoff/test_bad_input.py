"""Bad input is refused with a clear message before anything is queued or sent."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from earful.customers import service as customers
from earful.db import transaction
from earful.engagement import compose
from earful.engagement import service as replies
from earful.errors import BadInput
from earful.handoff import service as handoff_service
from earful.handoff.config import HandoffSettings
from earful.models import Handoff, OutboundJob
from tests.engagement.helpers import Desk, complaint
from tests.fakes.network import FakeNetwork

CFG = HandoffSettings(secret_key="s", smtp_port=1)


@pytest.fixture
def desk(sqlite_engine: Engine) -> Desk:
    return complaint(sqlite_engine, FakeNetwork(), "http://127.0.0.1:9")


def nothing_queued(desk: Desk) -> None:
    with transaction(desk.engine) as s:
        assert s.scalar(select(func.count()).select_from(OutboundJob)) == 0
        assert s.scalar(select(func.count()).select_from(Handoff)) == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "a reply needs some text"),
        ("   \n ", "a reply needs some text"),
        ("x" * 497, "the reply is 501 characters with the signature; mastodon allows 500"),
    ],
)
def test_bad_reply_is_refused(desk: Desk, text: str, message: str) -> None:
    with transaction(desk.engine) as s, pytest.raises(BadInput, match=message):
        replies.reply(s, desk.agent, desk.conv_id, text)
    nothing_queued(desk)


def test_reply_at_the_limit_passes() -> None:
    assert compose.check_reply("x" * 496, "mastodon", "^JS").endswith(" ^JS")
    assert compose.count("x" * 496, "mastodon", "^JS").left == 0


@pytest.mark.parametrize("channel", ["email", "zendesk", "helpscout"])
def test_handoff_without_email_is_refused(desk: Desk, channel: str) -> None:
    cfg = HandoffSettings(
        secret_key="s", zendesk_url="http://z", zendesk_token="t", helpscout_client_id="c",
        helpscout_mailbox_id=1,
    )  # fmt: skip
    with transaction(desk.engine) as s, pytest.raises(BadInput, match="has no email address"):
        handoff_service.handoff(s, desk.agent, desk.conv_id, channel, cfg)
    nothing_queued(desk)


@pytest.mark.parametrize("address", ["alice", "alice@", "a b@example.org", "alice@-x.org"])
def test_invalid_address_is_refused(desk: Desk, address: str) -> None:
    with transaction(desk.engine) as s, pytest.raises(BadInput, match="not a valid email"):
        handoff_service.handoff(s, desk.agent, desk.conv_id, "email", CFG, address=address)
    with transaction(desk.engine) as s, pytest.raises(BadInput, match="not a valid email"):
        customers.set_preferred_channel(s, desk.agent, desk.conv_id, "email", address)
    nothing_queued(desk)


def test_preferred_channel_must_be_asked_first(desk: Desk) -> None:
    with transaction(desk.engine) as s, pytest.raises(BadInput, match="ask them first"):
        handoff_service.handoff_preferred(s, desk.agent, desk.conv_id, CFG)
    nothing_queued(desk)


def test_unconfigured_channels_are_refused(desk: Desk) -> None:
    for channel, msg in [("zendesk", "not configured"), ("webhook", "no outgoing webhook")]:
        with transaction(desk.engine) as s, pytest.raises(BadInput, match=msg):
            handoff_service.handoff(s, desk.agent, desk.conv_id, channel, CFG, address="a@b.org")
    nothing_queued(desk)


def test_counter_follows_network_rules() -> None:
    assert compose.length("see https://example.org/a/very/long/path/indeed", "x") == 4 + 23
    assert compose.length("hi @bob@mastodon.social", "mastodon") == len("hi @bob")
    assert compose.length("日本", "x") == 4
    assert compose.signature("^{initials}", "Jane Smith") == "^JS"
    assert compose.signature("-{first}", "Jane Smith") == "-Jane"
