"""Journeys in real Chromium, from what a network really sends to what it receives back.

Each starts at a fake network speaking the real wire format (Jetstream, the Mastodon
streaming API, the X filtered stream, a signed Meta webhook delivery, the demo corpus)
and goes through the production code only: the source's own connector and the pipeline
store and classify the posts, the app served as `earful serve` runs it follows them into
the already-open inbox, an agent acts in the page, and the outbound worker (the brand's
own source acting) sends to the fake, which records what it received. Each journey
asserts what the person sees, and ends with another brand's agent seeing none of it.

Screenshots of the key steps land in tests/e2e/artifacts/journey-*.png.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from earful.cli.main import app as cli
from earful.connectors.replay import FileReplay
from earful.db import transaction
from earful.demo.generate import brands_config, write
from earful.engagement.service import compliment_round
from earful.handoff.config import HandoffSettings
from earful.handoff.senders import senders
from earful.models import Alert, ConversationState, Role
from earful.models.base import utcnow
from earful.pipeline.runner import Pipeline
from earful.wording import duration_words
from tests.e2e.journey_helpers import (
    Bluesky,
    Mastodon,
    brand,
    chromium,
    conversation_of,
    drain,
    hear,
    login,
    outsider_sees_none,
    person,
    row,
    row_seen_at,
    select_row,
    served,
    shot,
    source,
    watch_rows,
)
from tests.handoff.fake_smtp import Catcher, smtp_server
from tests.protocol.fake_x import BRAND_ID, FakeX, tweet
from tests.protocol.server import serve
from tests.protocol.test_webhooks import APP_SECRET, FakeGraph, delivery, signed

JO = "jo@acme.example"  # an agent of Acme Air: signs "^JA"
OZ = "oz@bolt.example"  # an agent of another brand only
LIVE_BUDGET_S = 1.0  # from the post's commit to its row in the open inbox

COMPLAINT = "@acmeair lost my bag on flight 212, nobody answers the phone. Furious."
ANSWER = "So sorry! We are tracing your bag now and will call you today."
FOLLOW_UP = "Still nothing, no bag and no call back."


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture
def browser(chromium_browser: Any) -> Iterator[Any]:
    """One Chromium for the module; each journey's contexts (and their streams) closed."""
    yield chromium_browser
    for context in chromium_browser.contexts:
        context.close()


def desk(engine: Engine, handles: dict[str, list[str]]) -> int:
    """Acme Air (Jo is its agent) and Bolt (Oz is its agent); returns Acme's id."""
    acme = brand(engine, "acme", "Acme Air", ["acmeair"], handles)
    bolt = brand(engine, "bolt", "Bolt Bikes", ["boltbikes"])
    person(engine, JO, "Jo Agent", {acme: Role.AGENT})
    person(engine, OZ, "Oz Outsider", {bolt: Role.AGENT})
    return acme


def jobs_shown(page: Any) -> list[str]:
    """The engagement panel's outbound jobs as the agent reads them ("like on x: sent"),
    without the link to what was posted."""
    return sorted(
        re.sub(r"\s+view$", "", text.strip())
        for text in page.locator("#engage li.job").all_inner_texts()
    )


def labels_of(locator: Any) -> set[str]:
    return {t.strip() for t in locator.locator(".label").all_inner_texts()}


# ------------------------------------------------------------------ 1. heard, answered, reopened


@pytest.mark.parametrize("network", ["bluesky", "mastodon"])
def test_a_complaint_is_heard_live_answered_once_and_reopens_when_the_customer_answers(
    browser: Any, sqlite_engine: Engine, network: str
) -> None:
    engine = sqlite_engine
    net = Bluesky() if network == "bluesky" else Mastodon()
    with serve(net.fake.app()) as host:
        net.host = host
        acme = desk(engine, net.handles)
        sid = source(engine, acme, net.kind, net.settings())
        pipeline = Pipeline(engine)
        with served(engine) as base:
            jo = login(browser, base, JO)
            watch_rows(jo)

            # The customer posts; the connector hears it; the open inbox shows it live.
            post_id = net.post(COMPLAINT)
            heard = hear(engine, sid, pipeline)
            assert heard.summary.ingested == 1, heard.summary
            conv = conversation_of(engine, net.kind, post_id)
            line = row(jo, conv)
            line.wait_for()
            latency = row_seen_at(jo, conv) - heard.stored_at[0]
            print(f"{network}: the row showed {latency:.3f} s after the commit")
            assert latency < LIVE_BUDGET_S, f"the row showed {latency:.2f} s after the commit"
            assert jo.url == f"{base}/inbox"  # no reload: the same page
            assert COMPLAINT in line.locator("td.subject").inner_text()  # the subject
            assert line.locator(".status").inner_text() == "new"
            assert {"negative", "complaint"} <= labels_of(line)
            assert network in line.locator(".net").inner_text()
            shot(jo, f"{network}-1-inbox-live")

            # Jo takes it with "a", then opens it with "o".
            select_row(jo, conv)
            jo.keyboard.press("a")
            row(jo, conv).filter(has_text="Jo Agent").wait_for()
            jo.keyboard.press("o")
            jo.wait_for_url(f"{base}/c/{conv}")
            assert jo.locator(".conv-head h1").inner_text() == COMPLAINT
            customer_post = jo.locator(".thread li.post").first
            assert COMPLAINT in customer_post.locator(".text").inner_text()
            assert {"negative", "complaint"} <= {
                t.split()[0] for t in customer_post.locator(".label").all_inner_texts()
            }
            assert jo.locator("#status").inner_text() == "open"
            assert jo.locator("#assignee").inner_text() == "Jo Agent"
            assert "signed Jo Agent" in jo.locator("label[for=reply-text]").inner_text()

            # Jo replies in the page: queued, and the conversation waits on the customer.
            jo.fill("#reply-text", ANSWER)
            jo.click("#reply-form button[type=submit]")
            jo.wait_for_url(f"{base}/c/{conv}#replies")
            assert jo.locator("#status").inner_text() == "waiting"
            queued = jo.locator("#replies li.reply-item", has_text=ANSWER)
            assert queued.locator(".status").inner_text() == "queued"
            jo.locator("#engage li.job", has_text="reply").wait_for()
            shot(jo, f"{network}-2-replied")

            # The outbound worker posts it to the network, signed, exactly once.
            assert drain(engine).sent == 1
            assert len(net.acts()) == 1, net.acts()
            [(ours, text, parent)] = net.replies()
            assert parent == post_id
            assert text.endswith(f"{ANSWER} ^JA"), text
            # The page follows: the reply is sent and in the thread as the brand's post.
            jo.locator(".thread li.post.from-brand", has_text=ANSWER).wait_for()
            jo.locator("#replies li.reply-sent", has_text=ANSWER).wait_for()
            jo.locator("#engage li.job-sent", has_text="reply").wait_for()
            assert jo.locator("#engage li.job").count() == 1
            assert jo.locator("#status").inner_text() == "waiting"
            shot(jo, f"{network}-3-sent")

            # The customer answers our reply: it threads in and reopens the conversation.
            net.post(FOLLOW_UP, reply_to=ours)
            again = hear(engine, sid, pipeline)
            assert again.summary.ingested == 1, again.summary
            # Our own reply, heard back from the network, is recognised, not stored again.
            assert again.summary.duplicates >= 1, again.summary
            assert conversation_of(engine, net.kind, ours) == conv
            jo.locator(".thread li.post", has_text=FOLLOW_UP).wait_for()
            jo.locator("#status", has_text="open").wait_for()
            assert jo.url.startswith(f"{base}/c/{conv}")  # the same page, updated live
            posts = jo.locator(".thread li.post").all_inner_texts()
            assert len(posts) == 3
            assert COMPLAINT in posts[0] and ANSWER in posts[1] and FOLLOW_UP in posts[2]
            shot(jo, f"{network}-4-reopened")
            assert len(net.acts()) == 1  # nothing more was sent

            outsider_sees_none(browser, base, OZ, [conv], [COMPLAINT, FOLLOW_UP])


def urgency_of(engine: Engine, conv: int) -> int:
    """The urgency the pipeline labelled the conversation with (unlabelled: normal)."""
    with transaction(engine) as s:
        level = s.scalar(select(ConversationState.urgency).where(
            ConversationState.conversation_id == conv))  # fmt: skip
    return 1 if level is None else level


@contextmanager
def a_complaint_just_heard(browser: Any, engine: Engine) -> Iterator[tuple[str, Any, int]]:
    """Jo's inbox is open when a Bluesky complaint is heard: (base URL, Jo's page, its
    conversation)."""
    net = Bluesky()
    with serve(net.fake.app()) as host:
        net.host = host
        acme = desk(engine, net.handles)
        sid = source(engine, acme, net.kind, net.settings())
        with served(engine) as base:
            jo = login(browser, base, JO)
            post_id = net.post(COMPLAINT)
            hear(engine, sid, Pipeline(engine))
            conv = conversation_of(engine, net.kind, post_id)
            row(jo, conv).wait_for()
            yield base, jo, conv


def test_a_customer_who_just_wrote_is_shown_waiting_not_answered(
    browser: Any, sqlite_engine: Engine
) -> None:
    with a_complaint_just_heard(browser, sqlite_engine) as (base, jo, conv):
        jo.goto(f"{base}/c/{conv}")
        head = jo.locator(".conv-head").inner_text()
        assert "answered" not in head
        # No SLA policy yet: the brand's 60 min target, scaled by the post's priority.
        urgency = {3: 15, 2: 30, 1: 60, 0: 120}[urgency_of(sqlite_engine, conv)]
        assert jo.locator(".conv-head .sla").inner_text() == f"due in {duration_words(urgency)}"
        assert "waiting 0 min" in head


# ------------------------------------------------------------------ 2. Facebook: reply and like

COMMENT = "122150000000000001_1234567890123456"  # Dana's comment on the page's post
SAM = "122150000000000001_1234567890123457"  # Sam's answer to it, in the same thread


def test_a_facebook_comment_gets_a_reply_and_a_like_from_the_page_each_sent_once(
    browser: Any, sqlite_engine: Engine
) -> None:
    engine = sqlite_engine
    graph = FakeGraph()
    with serve(graph.app()) as host:
        acme = desk(engine, {"facebook": ["104680012345678"]})
        sid = source(
            engine,
            acme,
            "meta",
            {
                "app_secret": APP_SECRET,
                "verify_token": "vt-123",
                "page_token": "page-token",
                "page_id": "104680012345678",
                "graph_url": f"http://{host}/v21.0",
            },
        )
        with served(engine) as base:
            jo = login(browser, base, JO)
            # Meta delivers the page's feed changes to the served app, signed.
            body = delivery("meta_page_feed.json")
            r = httpx.post(f"{base}/webhooks/meta/{sid}", content=body, headers=signed(body))
            assert r.status_code == 200, r.text
            assert r.json()["stored"] == 2
            conv = conversation_of(engine, "facebook", COMMENT)
            line = row(jo, conv)
            line.filter(has_text="Dana Traveller").wait_for()  # live, no reload
            assert "my suitcase never arrived" in line.locator("td.subject").inner_text()
            assert "facebook" in line.locator(".net").inner_text()
            shot(jo, "facebook-1-inbox-live")

            line.locator("a").click()
            jo.wait_for_url(f"{base}/c/{conv}")
            thread = jo.locator(".thread").inner_text()
            assert "acmeair my suitcase never arrived (flight 212)" in thread  # as edited
            assert "same thing happened to me" in thread
            jo.click("#take-form button")
            jo.locator("#assignee", has_text="Jo Agent").wait_for()

            jo.fill("#reply-text", "So sorry, Dana. We are tracing it now.")
            jo.click("#reply-form button[type=submit]")
            jo.wait_for_url(f"{base}/c/{conv}#replies")
            jo.locator("form.compliment button[value=like]").click()
            jo.wait_for_url(f"{base}/c/{conv}#engage")
            jo.locator("#engage li.job").nth(1).wait_for()
            assert jobs_shown(jo) == ["like on facebook: queued", "reply on facebook: queued"]
            shot(jo, "facebook-2-queued")

            assert drain(engine).sent == 2
            # Each once, to the thread's newest customer comment, the reply signed.
            assert sorted((c["edge"], c["parent"]) for c in graph.comments) == [
                ("comments", SAM),
                ("likes", SAM),
            ]
            reply = next(c for c in graph.comments if c["edge"] == "comments")
            assert reply["message"] == "So sorry, Dana. We are tracing it now. ^JA"
            jo.locator("#engage li.job-sent").nth(1).wait_for()
            assert jobs_shown(jo) == ["like on facebook: sent", "reply on facebook: sent"]
            jo.locator(".thread li.post.from-brand", has_text="tracing it now").wait_for()
            shot(jo, "facebook-3-sent")

            outsider_sees_none(browser, base, OZ, [conv], ["my suitcase never arrived"])


# ------------------------------------------------------------------ 3. compliment rules


def test_a_compliment_is_thanked_and_liked_once_by_the_rule_the_lead_set(
    browser: Any, sqlite_engine: Engine
) -> None:
    engine = sqlite_engine
    net = Mastodon()
    compliment = "@acmeair lovely crew on flight 301, thank you so much for the great service!"
    with serve(net.fake.app()) as host:
        net.host = host
        acme = desk(engine, net.handles)
        sid = source(engine, acme, net.kind, net.settings())
        # The lead sets the rule on the command line.
        result = CliRunner().invoke(
            cli,
            [
                "engagement",
                "signing",
                "acme",
                "--thank-text",
                "Thank you, {customer}! We will tell the crew.",
                "--thank",
                "--like",
                "--database",
                engine.url.render_as_string(hide_password=False),
            ],
        )
        assert result.exit_code == 0, result.output
        assert "compliments: thank, like" in result.output
        pipeline = Pipeline(engine)
        with served(engine) as base:
            jo = login(browser, base, JO)
            post_id = net.post(compliment)
            hear(engine, sid, pipeline)
            conv = conversation_of(engine, net.kind, post_id)
            line = row(jo, conv)
            line.wait_for()
            assert compliment in line.locator("td.subject").inner_text()
            assert {"positive", "compliment"} <= labels_of(line)
            line.locator("a").click()
            jo.wait_for_url(f"{base}/c/{conv}")
            assert compliment in jo.locator(".thread").inner_text()
            jo.locator("#engage li.empty", has_text="Nothing sent yet").wait_for()

            # The worker's round: the rule queues a thank-you and a like, once.
            with transaction(engine) as s:
                queued = sorted(j.kind.value for j in compliment_round(s, utcnow()))
            with transaction(engine) as s:
                assert compliment_round(s, utcnow()) == []
            assert queued == ["like", "reply"]
            assert drain(engine).sent == 2

            assert net.fake.favourites == {post_id.rpartition("/")[2]}
            assert [r for r in net.fake.requests if r.endswith("/favourite")] == [
                f"POST /api/v1/statuses/{post_id.rpartition('/')[2]}/favourite"
            ]
            assert len(net.acts()) == 1
            [(_, text, parent)] = net.replies()
            assert parent == post_id
            assert text == "@traveller@social.example Thank you, Traveller! We will tell the crew."
            # The page shows both sent, live.
            jo.locator("#engage li.job-sent").nth(1).wait_for()
            assert jobs_shown(jo) == ["like on mastodon: sent", "reply on mastodon: sent"]
            jo.locator(".thread li.post.from-brand", has_text="We will tell the crew").wait_for()
            shot(jo, "compliment-sent")

            # Another round, and another worker pass, send nothing more.
            with transaction(engine) as s:
                assert compliment_round(s, utcnow()) == []
            assert drain(engine).claimed == 0
            assert len(net.acts()) == 1 and len(net.fake.favourites) == 1

            outsider_sees_none(browser, base, OZ, [conv], [compliment])


# ------------------------------------------------------------------ 4. X: handed off


def test_an_x_complaint_is_handed_off_by_dm_and_by_email_with_the_transcript(
    browser: Any, sqlite_engine: Engine
) -> None:
    engine = sqlite_engine
    complaint = tweet("@acmeair my flight was cancelled and nobody answers", author="2244994945")
    x = FakeX(script=[("tweet", complaint)])
    mail = Catcher()
    with serve(x.app()) as host, smtp_server(mail) as smtp_port:
        acme = desk(engine, {"x": ["acmeair"]})
        sid = source(
            engine,
            acme,
            "x",
            {
                "bearer_token": x.bearer,
                "user_token": x.user_token,
                "user_id": BRAND_ID,
                "queries": ["@acmeair"],
                "base_url": f"http://{host}",
                "backfill": False,
                "keepalive_s": 5.0,
            },
        )
        with served(engine) as base:
            jo = login(browser, base, JO)
            hear(engine, sid, Pipeline(engine))  # the filtered stream
            conv = conversation_of(engine, "x", complaint["id"])
            line = row(jo, conv)
            line.filter(has_text="@traveller").wait_for()
            assert complaint["text"] in line.locator("td.subject").inner_text()
            assert {"negative", "complaint"} <= labels_of(line)
            line.locator("a").click()
            jo.wait_for_url(f"{base}/c/{conv}")
            assert complaint["text"] in jo.locator(".thread").inner_text()

            handoff = jo.locator("form.handoff")
            handoff.locator("select[name=channel]").select_option("dm")
            handoff.locator("textarea[name=message]").fill("Please DM us your booking reference")
            handoff.locator("button[type=submit]").click()
            jo.wait_for_url(f"{base}/c/{conv}#engage")
            handoff = jo.locator("form.handoff")
            handoff.locator("select[name=channel]").select_option("email")
            handoff.locator("input[name=address]").fill("traveller@example.net")
            handoff.locator("textarea[name=message]").fill("Here is our conversation so far.")
            handoff.locator("button[type=submit]").click()
            jo.wait_for_url(f"{base}/c/{conv}#engage")
            handoffs = jo.locator("#engage ul.handoffs li")
            handoffs.nth(1).wait_for()
            assert [h.split()[0].rstrip(":") for h in handoffs.all_inner_texts()] == ["dm", "email"]
            assert all("queued" in h for h in handoffs.all_inner_texts())
            shot(jo, "x-1-handoffs-queued")

            smtp = HandoffSettings(smtp_host="127.0.0.1", smtp_port=smtp_port)
            assert drain(engine, senders(smtp)).sent == 2

            # The DM went to the numeric user id, signed, once.
            assert x.dms == [("2244994945", "Please DM us your booking reference ^JA")]
            assert len([r for r in x.requests if "/dm_conversations/" in r]) == 1
            # The mail went once, to the address given, with the transcript.
            [(rcpts, msg)] = mail.messages
            assert rcpts == ["traveller@example.net"]
            assert msg["Subject"] == f"Acme Air: {complaint['text']} [#{conv}]"
            text = msg.get_content()
            assert "Here is our conversation so far." in text and "Jo Agent ^JA" in text
            assert "Our conversation so far (Acme Air):" in text
            assert complaint["text"] in text
            # The page shows both handoffs sent (live: the DM lands in the thread).
            jo.locator("#engage ul.handoffs li", has_text="sent").nth(1).wait_for()
            email_item = handoffs.filter(has_text="email")
            assert msg["Message-ID"].strip("<>") in email_item.inner_text()
            shot(jo, "x-2-handoffs-sent")

            outsider_sees_none(browser, base, OZ, [conv], [complaint["text"]])


# ------------------------------------------------------------------ 5. a spike


def test_a_spike_raises_an_alert_in_the_open_inbox_the_agent_opens_and_acknowledges(
    browser: Any, sqlite_engine: Engine, tmp_path: Path
) -> None:
    engine = sqlite_engine
    ids = {
        cfg["slug"]: brand(engine, cfg["slug"], cfg["name"], cfg["keywords"], cfg["handles"])
        for cfg in brands_config()
    }
    person(engine, "ann@skyward.example", "Ann Agent", {ids["skyward"]: Role.AGENT})
    bolt = brand(engine, "bolt", "Bolt Bikes", ["boltbikes"])
    person(engine, OZ, "Oz Outsider", {bolt: Role.AGENT})
    corpus = tmp_path / "demo.jsonl"
    write(corpus, seed=7, posts=3000)  # the demo corpus: an outage burst for Skyward
    with served(engine) as base:
        ann = login(browser, base, "ann@skyward.example")
        oz = login(browser, base, OZ)
        assert not ann.locator("#alerts").is_visible()

        Pipeline(engine).ingest(FileReplay(corpus, "jsonl", batch_size=500))
        with transaction(engine) as s:
            alert_id = s.scalar(
                select(Alert.id).where(Alert.brand_id == ids["skyward"]).order_by(Alert.id)
            )
        assert alert_id is not None, "the outage raised no alert"
        item = ann.locator(f'#alert-list li[data-alert="{alert_id}"]')
        # Live, into the banner of the inbox opened before the spike (how fast is the alerts
        # benchmark's question; a loaded CI box can take longer than the default 15 s).
        item.wait_for(timeout=45_000)
        assert ann.locator("#alerts").is_visible()
        assert "Negative mentions spiking" in item.inner_text()
        # The spike's conversations fill the same open inbox (its rows follow the stream).
        ann.locator("tr.row", has_text="Skyward Air").first.wait_for()
        shot(ann, "spike-1-banner")

        # Ann opens it (in a tab of her own) onto the posts that made it.
        href = item.locator("a").get_attribute("href")
        assert href == f"/alerts/{alert_id}"
        detail = ann.context.new_page()
        detail.goto(f"{base}{href}")
        heading = detail.locator("h2", has_text="The posts that made it").inner_text()
        shown = detail.locator("ul.alert-posts li")
        assert heading == f"The posts that made it ({shown.count()})" and shown.count() > 0
        texts = shown.locator(".text").all_inner_texts()
        for post in shown.all():  # a "negative" mention: negative, or a complaint
            assert {"negative", "complaint"} & set(post.locator(".label").all_inner_texts())
        assert any("outage" in t.lower() or "down" in t.lower() for t in texts), texts[:5]
        shot(detail, "spike-2-alert")
        with detail.expect_navigation():
            shown.first.get_by_role("link", name="Open the conversation").click()
        assert texts[0] in detail.locator(".thread").inner_text()
        conv = int(detail.url.rsplit("/", 1)[1])
        detail.go_back()

        # She acknowledges it: it leaves the banner of the inbox still open, live.
        detail.get_by_role("button", name="Acknowledge").click()
        detail.wait_for_url(f"{base}/inbox")
        assert detail.locator(f'#alert-list li[data-alert="{alert_id}"]').count() == 0
        item.wait_for(state="detached")
        ann.reload()
        assert ann.locator(f'#alert-list li[data-alert="{alert_id}"]').count() == 0
        shot(ann, "spike-3-acknowledged")

        # Bolt's agent, whose inbox was open all along, never saw it.
        assert oz.locator("#alert-list li").count() == 0
        assert not oz.locator("#alerts").is_visible()
        outsider_sees_none(browser, base, OZ, [conv], [texts[0]], alert_ids=(alert_id,))


def test_an_alert_raised_while_the_server_restarted_shows_when_the_stream_reopens(
    browser: Any, sqlite_engine: Engine
) -> None:
    """A deploy restarts the app: the inbox's event stream ends and opens again, and the
    alert raised in between is not lost."""
    engine = sqlite_engine
    skyward = brand(engine, "skyward", "Skyward Air", ["skyward"])
    person(engine, "ann@skyward.example", "Ann Agent", {skyward: Role.AGENT})
    with served(engine) as base:
        ann = login(browser, base, "ann@skyward.example")
        ann.locator(".inbox[data-opened]").wait_for()  # the stream is open
    now = utcnow()
    with transaction(engine) as s:  # the spike detector, in a worker, while the app is down
        s.add(Alert(brand_id=skyward, kind="negative", window_start=now, window_end=now,
                    observed=40, expected=4.0, ratio=10.0, surprise=12.0))  # fmt: skip
    assert ann.locator("#alert-list li").count() == 0
    with served(engine, port=int(base.rsplit(":", 1)[1])):
        ann.locator("#alert-list li", has_text="Negative mentions spiking").wait_for()
        assert ann.locator("#alerts").is_visible()


# ------------------------------------------------------------------ 6. another brand's agent


def test_another_brands_agent_sees_none_of_it_not_even_live(
    browser: Any, sqlite_engine: Engine
) -> None:
    engine = sqlite_engine
    net = Bluesky()
    with serve(net.fake.app()) as host:
        net.host = host
        acme = desk(engine, net.handles)
        sid = source(engine, acme, net.kind, net.settings())
        with served(engine) as base:
            jo = login(browser, base, JO)
            oz = login(browser, base, OZ)
            watch_rows(oz)
            post_id = net.post(COMPLAINT)
            hear(engine, sid, Pipeline(engine))
            conv = conversation_of(engine, net.kind, post_id)
            row(jo, conv).wait_for()  # Acme's inbox has it live ...
            time.sleep(LIVE_BUDGET_S)  # ... and Bolt's, open as long, got nothing
            assert oz.evaluate("Object.keys(window.__rowSeen)") == []
            assert "Inbox zero" in oz.locator("#rows").inner_text()
            shot(oz, "outsider-inbox")
            outsider_sees_none(browser, base, OZ, [conv], [COMPLAINT])
