"""Spike alerts, SLA breaches and assignments reach people by email (a real SMTP relay),
a Slack/Mattermost webhook (a real HTTP server) and the browser (the page's event stream):
chosen per brand on the settings page or the API, once per alert and target, held or
dropped in quiet hours, retried, and shown to the brand's admins when a target keeps
failing."""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from earful.conversations import repository as conversations_repo
from earful.customers.erasure import erase
from earful.db import transaction
from earful.models import (
    Alert,
    Brand,
    Identity,
    JobKind,
    NotificationTarget,
    OutboundJob,
    Post,
)
from earful.notifications.dispatch import SUSPEND_AFTER
from tests.handoff.fake_smtp import Catcher, smtp_server
from tests.inbox.test_alerts import raise_alert
from tests.notifications.helpers import (
    desk,
    notifications,
    run_round,
    run_until_settled,
    tip_spike,
)
from tests.protocol.fake_chat import ChatHook
from tests.protocol.server import serve
from tests.web.world import World, add_conversation, build_world, client, login

NOTIFY = (JobKind.NOTIFY,)
# What the burst's posts say: markup to escape, and an address no notification repeats.
SAID = "Down & out: the app says <error 500>, write to help@example.com if it persists"


def choose(c: TestClient, csrf: str, slug: str, **prefs: object) -> dict[str, object]:
    r = c.put(f"/api/v1/brands/{slug}/notifications", json=prefs,
              headers={"X-CSRF-Token": csrf})  # fmt: skip
    assert r.status_code == 200, r.text
    doc: dict[str, object] = r.json()
    return doc


@pytest.fixture
def world(engine: Engine) -> World:
    return build_world(engine)


def test_a_spike_reaches_email_chat_and_browser_once(
    engine: Engine, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, hook, mail = engine, ChatHook(), Catcher()
    c = client(engine)
    csrf = login(c, "alice")
    with serve(hook) as host, smtp_server(mail) as port:
        chat_url = f"http://{host}/hooks/abc"
        saved = choose(c, csrf, world.slug_a, channels={
            "email": {"events": ["spike"]},  # to the sign-in address
            "chat": {"address": chat_url, "events": ["spike", "sla"]},
            "browser": {"events": ["spike"]},
        })  # fmt: skip
        assert saved["channels"]["email"]["address"] == "alice@example.org"  # type: ignore[index]
        tail = c.app.state.tail  # type: ignore[attr-defined]
        tail.start()
        out = desk(engine, monkeypatch, port)

        tip_spike(engine, world.brand_a, said=SAID)
        run_until_settled(out, NOTIFY)
        run_round(out)  # the scheduler sees the same alert again: nothing new
        tip_spike(engine, world.brand_a, tag="again")  # more of the same burst: no new alert
        run_until_settled(out, NOTIFY)

    # What happened, how far from the usual, what one of them said (no address), where.
    [msg] = hook.messages
    [att] = msg["attachments"]
    link = att["title_link"]
    assert re.fullmatch(r"https://desk\.example/alerts/\d+", link)
    facts = r"12 mentions about Acme Air in the last (\d+) min; usually about [\d.]+ in that time\."
    lines = msg["text"].split("\n")
    assert re.fullmatch(r"\*Acme Air: spike of volume mentions, 12 in \d+ min\*", lines[0])
    assert re.fullmatch(facts, lines[1])
    escaped = r"Down &amp; out: the app says &lt;error 500&gt;, write to \[address\]"
    assert re.fullmatch(rf"Top post: “{escaped} if it persists \d+”", lines[2])
    assert lines[3] == f"<{link}|Open the alert>" and len(lines) == 4
    [(to, email)] = mail.messages
    assert to == ["alice@example.org"] and "spike of volume mentions, 12 in" in email["Subject"]
    body = email.get_content()
    assert re.search(facts, body) and f"Open the alert: {link}" in body
    assert "Down & out: the app says <error 500>, write to [address]" in body
    for sent in (msg["text"], body):
        assert "help@" not in sent and "example.com" not in sent
    states = {(n.channel, n.state) for n in notifications(engine)}
    assert states == {("email", "sent"), ("chat", "sent"), ("browser", "sent")}

    # The browser notification goes down alice's own event stream, not to others.
    def later() -> None:
        time.sleep(0.3)
        tail.poll_once()

    threading.Thread(target=later).start()
    with c.stream("GET", "/events", params={"ttl": 1.0}) as r:
        text = "".join(r.iter_text())
    assert "event: notify" in text and "spike of volume mentions" in text
    [doc] = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")
             and '"title"' in line]  # fmt: skip
    assert doc["link"] == link and doc["title"].startswith("Acme Air: spike of volume mentions")
    assert re.match(facts, doc["body"]) and "Top post: “Down & out" in doc["body"]
    assert "help@" not in doc["body"]

    page = c.get(f"/brands/{world.slug_a}/notifications")
    assert page.status_code == 200 and "spike of volume mentions" in page.text
    assert 'name="csrf_token"' in page.text

    # Erasing the writer of the quoted post takes the messages that quote it.
    with transaction(engine) as s:
        [alert] = s.scalars(select(Alert)).all()
        quoted = s.get(Post, alert.post_ids[0])
        assert quoted is not None
        writer = s.get(Identity, quoted.identity_id)
        assert writer is not None
        erase(s, writer)
    with transaction(engine) as s:
        left = s.scalars(select(OutboundJob.text).where(OutboundJob.kind == JobKind.NOTIFY)).all()
    assert left == []


def test_notifications_are_chosen_on_the_page_and_checked(engine: Engine, world: World) -> None:
    c = client(engine)
    csrf = login(c, "agent")
    r = c.post(f"/brands/{world.slug_a}/notifications", data={
        "csrf_token": csrf, "email_address": "", "email_events": ["assigned", "sla"],
        "browser_events": ["spike"], "quiet_start": "22:00", "quiet_end": "07:00",
        "timezone": "Europe/Paris", "quiet_mode": "drop",
    })  # fmt: skip
    assert r.status_code == 200 and "Notifications saved." in r.text
    got = c.get(f"/api/v1/brands/{world.slug_a}/notifications").json()
    assert got["channels"]["email"] == {
        "address": "agent@example.org", "events": ["assigned", "sla"], "failures": 0,
        "last_error": None, "suspended": False,
    }  # fmt: skip
    assert (got["quiet_start"], got["quiet_end"], got["timezone"], got["quiet_mode"]) == (
        "22:00", "07:00", "Europe/Paris", "drop",
    )  # fmt: skip
    h = {"X-CSRF-Token": csrf}
    for bad, why in [
        ({"channels": {"chat": {"address": "ftp://x", "events": ["spike"]}}}, "http(s) URL"),
        ({"channels": {"email": {"events": ["everything"]}}}, "events are spike"),
        ({"quiet_start": "25:00", "quiet_end": "07:00"}, "a time like 22:00"),
        ({"quiet_start": "22:00"}, "both a start and an end"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
    ]:
        r = c.put(f"/api/v1/brands/{world.slug_a}/notifications", json=bad, headers=h)
        assert r.status_code == 400 and why in r.text, (bad, r.text)
    # Nothing of a refused change was saved.
    assert c.get(f"/api/v1/brands/{world.slug_a}/notifications").json() == got
    # Forms without the CSRF token are refused.
    assert c.post(f"/brands/{world.slug_a}/notifications", data={}).status_code == 403


def test_a_failing_chat_target_is_retried_then_suspended_and_shown_to_admins(
    engine: Engine, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, hook = engine, ChatHook(fail=500)
    c = client(engine)
    csrf = login(c, "agent")
    with serve(hook) as host, smtp_server(Catcher()) as port:
        choose(c, csrf, world.slug_a,
               channels={"chat": {"address": f"http://{host}/h", "events": ["spike"]}})  # fmt: skip
        out = desk(engine, monkeypatch, port)
        for i in range(SUSPEND_AFTER):
            raise_alert(engine, world.brand_a, 40 + i)
            run_until_settled(out, NOTIFY)
        attempts = hook.requests
        assert attempts == SUSPEND_AFTER * 5  # each message tried 5 times
        raise_alert(engine, world.brand_a, 99)  # suspended: not tried at all
        run_until_settled(out, NOTIFY)
        assert hook.requests == attempts

        admin = client(engine)
        admin_csrf = login(admin, "alice")
        page = admin.get(f"/brands/{world.slug_a}/webhooks")
        assert page.status_code == 200
        assert "Notifications that fail" in page.text and "Agent" in page.text
        assert "chat webhook HTTP 500" in page.text and "suspended" in page.text
        viewer = client(engine)
        login(viewer, "viewer")
        assert viewer.get(f"/brands/{world.slug_a}/webhooks").status_code == 403

        # The admin resumes it once the hook works again: the next alert gets through.
        hook.fail = None
        with transaction(engine) as s:
            target_id = s.scalars(select(NotificationTarget.id)).one()
        r = admin.post(f"/brands/{world.slug_a}/notifications/targets/{target_id}/resume",
                       data={"csrf_token": admin_csrf})  # fmt: skip
        assert r.status_code == 200
        raise_alert(engine, world.brand_a, 123)
        run_until_settled(out, NOTIFY)
    assert len(hook.messages) == 1 and "123 in" in hook.messages[0]["text"]
    states = [n.state for n in notifications(engine)]
    assert states == ["failed"] * SUSPEND_AFTER + ["skipped", "sent"]
    with transaction(engine) as s:
        target = s.get(NotificationTarget, target_id)
        assert target is not None and target.failures == 0 and target.suspended_at is None


def _quiet_now(offset_h: int = 1) -> tuple[str, str]:
    now = datetime.now(UTC)
    return (now - timedelta(hours=offset_h)).strftime("%H:%M"), (
        now + timedelta(hours=offset_h)
    ).strftime("%H:%M")


def test_quiet_hours_hold_email_until_they_end_or_drop_it(
    engine: Engine, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, mail = engine, Catcher()
    start, end = _quiet_now()
    holder, dropper = client(engine), client(engine)
    choose(holder, login(holder, "alice"), world.slug_a, quiet_start=start, quiet_end=end,
           quiet_mode="hold", channels={"email": {"events": ["spike"]},
                                        "browser": {"events": ["spike"]}})  # fmt: skip
    choose(dropper, login(dropper, "agent"), world.slug_a, quiet_start=start, quiet_end=end,
           quiet_mode="drop", channels={"email": {"events": ["spike"]}})  # fmt: skip
    with smtp_server(mail) as port:
        out = desk(engine, monkeypatch, port)
        raise_alert(engine, world.brand_a, 50)
        run_round(out)
        assert mail.messages == []
        got = {(n.user_id, n.channel): (n.state, n.reason) for n in notifications(engine)}
        assert got == {
            (world.users["alice"], "email"): ("held", None),
            (world.users["alice"], "browser"): ("dropped", "quiet hours"),
            (world.users["agent"], "email"): ("dropped", "quiet hours"),
        }
        with transaction(engine) as s:
            [job] = s.scalars(select(OutboundJob).where(OutboundJob.kind == JobKind.NOTIFY))
            due = job.next_attempt_at
        assert due > datetime.now(UTC) + timedelta(minutes=50)
        assert due.strftime("%H:%M") == end
        # When the quiet hours end, the worker sends it.
        import asyncio

        summary = asyncio.run(out.worker.run_once(now=due + timedelta(seconds=1)))
        assert summary.sent == 1
    [(to, _)] = mail.messages
    assert to == ["alice@example.org"]


def test_an_sla_breach_is_told_once_and_old_ones_not_at_all(
    engine: Engine, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, mail = engine, Catcher()
    with transaction(engine) as s:  # a 60-minute target: one waits 70 min, one a day
        s.execute(update(Brand).where(Brand.id == world.brand_a).values(target_response_minutes=60))
        fresh = add_conversation(s, world.brand_a, 70, "still no refund", "late", minutes_ago=70)
        old = add_conversation(s, world.brand_a, 71, "hello?", "older", minutes_ago=60 * 24)
        conversations_repo.refresh_states(s, [fresh, old])
    c = client(engine)
    choose(c, login(c, "agent"), world.slug_a, channels={"email": {"events": ["sla"]}})
    with smtp_server(mail) as port:
        out = desk(engine, monkeypatch, port)
        run_until_settled(out, NOTIFY)
        run_until_settled(out, NOTIFY)
    [(to, email)] = mail.messages
    assert to == ["agent@example.org"]
    assert email["Subject"] == f"Acme Air: conversation #{fresh} is past its 1 h response target"
    body = email.get_content().replace("\r\n", "\n")  # lines end as SMTP sends them
    overdue = re.search(r"^@late on Bluesky has waited past the 1 h target; (\d+) min overdue\.$",
                        body, re.MULTILINE)  # fmt: skip
    assert overdue and 9 <= int(overdue[1]) <= 11  # waiting 70 min against 60
    assert "They wrote: “still no refund”" in body
    assert f"Open the conversation: https://desk.example/c/{fresh}" in body
    assert [n.key.split(":")[:2] for n in notifications(engine)] == [["sla", str(fresh)]]
    # Erasing the customer takes the message that quotes them out of the queue's records.
    with transaction(engine) as s:
        erase(s, s.scalars(select(Identity).where(Identity.handle == "late")).one())
    with transaction(engine) as s:
        assert s.scalars(select(OutboundJob).where(OutboundJob.kind == JobKind.NOTIFY)).all() == []
    assert [n.state for n in notifications(engine)] == ["sent"]  # the record of it stays


def test_an_assignment_tells_the_assignee_only(
    engine: Engine, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, hook = engine, ChatHook()
    with serve(hook) as host, smtp_server(Catcher()) as port:
        url = f"http://{host}/h"
        agent, alice = client(engine), client(engine)
        choose(agent, login(agent, "agent"), world.slug_a,
               channels={"chat": {"address": url, "events": ["assigned"]}})  # fmt: skip
        alice_csrf = login(alice, "alice")
        choose(alice, alice_csrf, world.slug_a,
               channels={"chat": {"address": url + "?alice", "events": ["assigned"]}})  # fmt: skip
        h = {"X-CSRF-Token": alice_csrf}
        conv = world.convs_a[0]
        r = alice.post(f"/api/v1/conversations/{conv}/assign",
                       json={"assignee": str(world.users["agent"])}, headers=h)  # fmt: skip
        assert r.status_code == 200, r.text
        alice.post(
            f"/api/v1/conversations/{world.convs_a[1]}/assign", json={"assignee": "me"}, headers=h
        )  # fmt: skip  (taking one oneself tells nobody)
        out = desk(engine, monkeypatch, port)
        run_until_settled(out, NOTIFY)
        run_until_settled(out, NOTIFY)
    [msg] = hook.messages
    assert msg["text"].split("\n") == [
        f"*Acme Air: Alice assigned you conversation #{conv}*",
        "Alice assigned you the conversation with @anna0 on Bluesky.",
        "They wrote: “my flight 0 was late”",
        f"<https://desk.example/c/{conv}|Open the conversation>",
    ]
    assert [(n.user_id, n.state) for n in notifications(engine)] == [(world.users["agent"], "sent")]
