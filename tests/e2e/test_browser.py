"""Browser tests: Playwright driving Debian's Chromium (never a downloaded browser).

Outside CI they skip when Chromium or Playwright is missing; under CI=true they must run.
Screenshots of each main page land in tests/e2e/artifacts/.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from earful.conversations import repository as conversations_repo
from earful.db import transaction
from earful.web.app import create_app
from earful.web.server import Server, config
from tests.web.world import PASSWORD, World, add_conversation, build_world

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
IN_CI = os.environ.get("CI", "").lower() == "true"


def _need_browser() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        if IN_CI:
            pytest.fail(f"playwright is required under CI=true: {exc}")
        pytest.skip("playwright not installed")
    if not os.access(CHROMIUM, os.X_OK):
        if IN_CI:
            pytest.fail(f"{CHROMIUM} is required under CI=true (apt-get install -y chromium)")
        pytest.skip(f"{CHROMIUM} not installed")
    return sync_playwright


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(sqlite_engine: Engine) -> Iterator[tuple[str, World]]:
    world = build_world(sqlite_engine)
    app = create_app(sqlite_engine, secret_key="e2e-secret-key-0123456789abcdef")
    port = _free_port()
    server = Server(config(app, "127.0.0.1", port))  # as `earful serve` runs it
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 10
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://localhost:{port}", world
    # The browser still holds its inbox's event stream open: stop as on SIGTERM, which
    # ends the streams, instead of waiting for them.
    server.handle_exit(signal.SIGTERM, None)
    thread.join(timeout=10)
    assert not thread.is_alive(), "the server did not stop"


@pytest.fixture
def browser() -> Iterator[Any]:
    sync_playwright = _need_browser()
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def login(browser: Any, base: str, who: str) -> Any:
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=email]", f"{who}@example.org")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/inbox")
    return page


def test_login_triage_assign_and_screenshots(browser: Any, served: tuple[str, World]) -> None:
    base, world = served
    page = login(browser, base, "alice")
    page.screenshot(path=str(ARTIFACTS / "inbox.png"), full_page=True)
    rows = page.locator("tr.row")
    assert rows.count() == len(world.convs_a)
    page.keyboard.press("j")
    assert page.locator("tr.row.selected").get_attribute("data-id") == rows.nth(1).get_attribute(
        "data-id"
    )
    page.keyboard.press("k")
    page.keyboard.press("o")
    page.wait_for_url(f"{base}/c/*")
    page.click("#take-form button")
    page.wait_for_load_state()
    assert page.locator("#assignee").inner_text() == "Alice"
    page.screenshot(path=str(ARTIFACTS / "conversation.png"), full_page=True)
    page.goto(f"{base}/account")
    page.screenshot(path=str(ARTIFACTS / "account.png"), full_page=True)


def test_presence_and_collision_hold(browser: Any, served: tuple[str, World]) -> None:
    base, world = served
    conv = world.convs_a[0]
    alice = login(browser, base, "alice")
    agent = login(browser, base, "agent")
    alice.goto(f"{base}/c/{conv}")
    agent.goto(f"{base}/c/{conv}")
    alice.locator("#presence", has_text="Agent").wait_for(timeout=5000)
    agent.locator("#presence", has_text="Alice").wait_for(timeout=5000)
    agent.fill("#reply-text", "typing to you")
    alice.locator("#presence .typing", has_text="Agent").wait_for(timeout=8000)
    agent.click("#reply-form button[type=submit]")
    agent.wait_for_url(f"{base}/c/{conv}#replies")
    # Alice's page was opened before the agent replied: her reply is held, with a warning.
    alice.locator(".stale").wait_for(timeout=5000)
    alice.fill("#reply-text", "late answer")
    alice.click("#reply-form button[type=submit]")
    alice.locator(".held").wait_for(timeout=5000)
    assert "changed after you opened it" in alice.locator(".held").inner_text()
    alice.screenshot(path=str(ARTIFACTS / "collision-hold.png"), full_page=True)


def test_new_post_appears_live(
    browser: Any, served: tuple[str, World], sqlite_engine: Engine
) -> None:
    base, world = served
    page = login(browser, base, "alice")
    started = time.perf_counter()
    with transaction(sqlite_engine) as s:  # as another process's ingest would
        add_conversation(s, world.brand_a, 900, "brand new complaint arrives live", "latecomer")
    page.locator("tr.row", has_text="brand new complaint arrives live").wait_for(timeout=5000)
    assert time.perf_counter() - started < 5


def test_hostile_post_runs_no_script(
    browser: Any, served: tuple[str, World], sqlite_engine: Engine
) -> None:
    base, world = served
    hostile = (
        '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=1">'
        '<a href="javascript:window.__pwned=1">x</a> \u202egnp.exe'
    )
    with transaction(sqlite_engine) as s:
        conv = add_conversation(
            s, world.brand_a, 901, hostile, '<img src=x onerror="window.__pwned=1">'
        )

    with transaction(sqlite_engine) as s:
        conversations_repo.refresh_states(s, [conv])
    page = login(browser, base, "alice")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{base}/c/{conv}")
    assert page.evaluate("window.__pwned") is None
    assert page.locator(".thread img").count() == 0
    assert page.locator(".thread a[href^='javascript']").count() == 0
    assert "<script>" in page.locator(".thread .text").first.inner_text()
    page.goto(f"{base}/inbox")
    assert page.evaluate("window.__pwned") is None
    assert not dialogs
    page.screenshot(path=str(ARTIFACTS / "xss.png"), full_page=True)


def test_dashboard_draws_its_charts(
    browser: Any, served: tuple[str, World], sqlite_engine: Engine
) -> None:
    from earful.models.base import utcnow
    from tests.dashboard.dataset import build

    base, world = served
    build(sqlite_engine, world, utcnow())
    page = login(browser, base, "alice")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.click("header nav a[href='/dashboard']")
    page.wait_for_url(f"{base}/brands/{world.slug_a}/dashboard")
    for chart in ("volume", "intents", "response", "agents"):
        page.locator(f"#chart-{chart}[data-ready='1']").wait_for(timeout=5000)
    assert page.evaluate("Object.keys(window.Chart.instances).length") == 4
    assert not errors, errors  # no CSP violation, no script error
    with page.expect_download() as download:
        page.click("a.csv[href*='chart=volume']")
    assert download.value.suggested_filename == f"{world.slug_a}-volume-30d.csv"
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)


def test_spike_alert_appears_live(
    browser: Any, served: tuple[str, World], sqlite_engine: Engine
) -> None:
    from tests.inbox.test_alerts import raise_alert

    base, world = served
    page = login(browser, base, "alice")
    assert not page.locator("#alerts").is_visible()
    raise_alert(sqlite_engine, world.brand_b, 999)
    raise_alert(sqlite_engine, world.brand_a, 42)
    item = page.locator("#alert-list li", has_text="42 in the window")
    item.wait_for(timeout=5000)
    assert page.locator("#alerts").is_visible()
    assert "999" not in page.locator("#alert-list").inner_text()
    page.screenshot(path=str(ARTIFACTS / "inbox-alert.png"), full_page=True)
    # Acknowledged from the banner: it leaves at once, and stays gone after a reload.
    item.get_by_role("button", name="Acknowledge").click()
    item.wait_for(state="detached", timeout=5000)
    page.reload()
    assert page.locator("#alert-list li", has_text="42 in the window").count() == 0
