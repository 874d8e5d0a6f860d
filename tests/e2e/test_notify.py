"""Browser notifications (notify.js) in a real Chromium: the user allowed notifications
and chose them for assignments; another agent assigns her a conversation in the app, the
outbound worker's notification round runs, and her open inbox raises exactly one
notification with the right title and body. ``window.Notification`` is a recording stub
(installed before any page script), so the test sees what the page asked to show."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from earful.auth.service import load_principal
from earful.conversations import service as conversations
from earful.db import transaction
from earful.models.base import utcnow
from earful.notifications.dispatch import notify_round
from tests.e2e import journey_helpers as journey
from tests.e2e.test_browser import browser, login, served  # noqa: F401 (fixtures)
from tests.web.world import PASSWORD, World, build_world

RECORDER = """
(() => {
  const shown = [];
  class RecordingNotification {
    constructor(title, options) {
      shown.push({title: title, body: (options || {}).body, tag: (options || {}).tag});
      this.onclick = null;
    }
    static get permission() { return "granted"; }
    static requestPermission() { return Promise.resolve("granted"); }
  }
  Object.defineProperty(window, "Notification", {value: RecordingNotification});
  window.__notifications = shown;
})();
"""


def login_with_notifications(chromium: Any, base: str, who: str) -> Any:
    ctx = chromium.new_context()
    ctx.grant_permissions(["notifications"], origin=base)
    ctx.add_init_script(RECORDER)
    page = ctx.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=email]", f"{who}@example.org")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/inbox")
    return page


def assign(page: Any, base: str, conv_id: int, to: str) -> None:
    page.goto(f"{base}/c/{conv_id}")
    form = page.locator(f"form[action='/c/{conv_id}/assign']", has=page.locator("select"))
    form.locator("select[name=assignee]").select_option(label=to)
    form.locator("button").click()
    page.wait_for_load_state()


def round_of_the_worker(engine: Engine, base: str) -> None:
    with transaction(engine) as session:  # what `earful run`'s outbound round does
        notify_round(session, utcnow() + timedelta(seconds=1), base)


def test_an_assignment_raises_one_browser_notification(
    browser: Any,  # noqa: F811
    served: tuple[str, World],  # noqa: F811
    sqlite_engine: Engine,
) -> None:
    base, world = served
    alice = login_with_notifications(browser, base, "alice")
    alice.goto(f"{base}/brands/{world.slug_a}/notifications")
    alice.check("input[name=browser_events][value=assigned]")
    alice.locator("form[action$='/notifications'] button[type=submit]").click()
    alice.wait_for_load_state()
    assert alice.is_checked("input[name=browser_events][value=assigned]")
    alice.goto(f"{base}/inbox")  # her inbox is open; the stream carries her notifications

    agent = login(browser, base, "agent")
    first, second = world.convs_a[0], world.convs_a[1]
    assign(agent, base, first, "Alice")
    round_of_the_worker(sqlite_engine, base)
    alice.wait_for_function("() => window.__notifications.length >= 1", timeout=10000)

    # The same assignment again in the next round: no second message. A later assignment
    # is the marker that the stream has delivered everything before it.
    round_of_the_worker(sqlite_engine, base)
    assign(agent, base, second, "Alice")
    round_of_the_worker(sqlite_engine, base)
    alice.wait_for_function("() => window.__notifications.length >= 2", timeout=10000)
    shown = alice.evaluate("() => window.__notifications")
    # Who assigned it, to whom it is about, what they wrote: readable away from the desk.
    assert [(n["title"], n["body"]) for n in shown] == [
        (f"Acme Air: Agent assigned you conversation #{first}",
         "Agent assigned you the conversation with @anna0 on Bluesky.\n"
         "They wrote: “my flight 0 was late”"),
        (f"Acme Air: Agent assigned you conversation #{second}",
         "Agent assigned you the conversation with @anna1 on Bluesky.\n"
         "They wrote: “my flight 1 was late”"),
    ]  # fmt: skip
    assert len({n["tag"] for n in shown}) == 2


def assign_behind_the_app(engine: Engine, by: int, conv_id: int, to: int) -> None:
    """An assignment made while this app is down (by another instance of it)."""
    with transaction(engine) as session:
        principal = load_principal(session, by)
        assert principal is not None
        conversations.assign(session, principal, conv_id, str(to))


def test_a_notification_sent_while_the_stream_was_down_shows_when_it_reopens(
    browser: Any,  # noqa: F811
    sqlite_engine: Engine,
) -> None:
    """A deploy restarts the app, and a proxy answers 503 meanwhile: the stream fails, so
    htmx opens a new one (no Last-Event-ID of its own). The notification sent in between
    still shows once it is back, and the one shown before is not shown again."""
    world = build_world(sqlite_engine)
    alice_id, agent_id = world.users["alice"], world.users["agent"]
    streams: list[str] = []
    with journey.served(sqlite_engine) as base:
        alice = login_with_notifications(browser, base, "alice")
        alice.on("request", lambda r: streams.append(r.url) if "/events" in r.url else None)
        alice.goto(f"{base}/brands/{world.slug_a}/notifications")
        alice.check("input[name=browser_events][value=assigned]")
        alice.locator("form[action$='/notifications'] button[type=submit]").click()
        alice.wait_for_load_state()
        alice.goto(f"{base}/inbox")
        alice.locator(".inbox[data-opened]").wait_for()
        assign_behind_the_app(sqlite_engine, agent_id, world.convs_a[0], alice_id)
        round_of_the_worker(sqlite_engine, base)
        alice.wait_for_function("() => window.__notifications.length === 1", timeout=10000)
        alice.route("**/events*", lambda route: route.fulfill(status=503, body="restarting"))
    # Down: the stream has ended, and its reopening fails.
    assign_behind_the_app(sqlite_engine, agent_id, world.convs_a[1], alice_id)
    round_of_the_worker(sqlite_engine, base)
    alice.wait_for_timeout(2500)  # the browser's retry (2 s) met the 503: the stream is closed
    assert alice.evaluate("() => window.__notifications.length") == 1
    with journey.served(sqlite_engine, port=int(base.rsplit(":", 1)[1])):
        alice.unroute("**/events*")
        alice.wait_for_function("() => window.__notifications.length >= 2", timeout=20000)
        alice.wait_for_timeout(500)  # nothing else follows
        shown = alice.evaluate("() => window.__notifications")
    assert [n["title"] for n in shown] == [
        f"Acme Air: Agent assigned you conversation #{world.convs_a[0]}",
        f"Acme Air: Agent assigned you conversation #{world.convs_a[1]}",
    ]
    assert "last=a" in streams[-1]  # htmx's new stream carried the page's last id
