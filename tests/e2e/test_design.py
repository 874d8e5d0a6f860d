"""The desk as people see it, in real Chromium, on the demo desk `make demo` loads.

* axe-core (pinned in package.json, copied by scripts/build_static.mjs, injected here,
  never linked by a page) finds no serious or critical violation on any page, in the
  light and the dark theme. ``PAGES`` lists the pages; a new full page (an HTML GET route
  that is not a fragment) fails ``test_every_page_is_checked`` until it is listed.
* At 375 px wide nothing scrolls sideways and the controls an agent needs are on screen.
* The theme follows the system and the header's toggle, remembered across pages.
* Every action has a key, listed on "?" in a dialog; keys do nothing while typing.
* The screenshots in docs/screenshots are taken here (``make screenshots`` writes them
  there; a plain run writes them to tests/e2e/artifacts/docs/).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from earful.cli.main import app as cli
from earful.config import load_settings
from earful.db import make_engine
from earful.models import Alert, Brand, Conversation
from earful.web.app import create_app
from earful.web.demo_account import DEMO_EMAIL, DEMO_PASSWORD
from tests.e2e.journey_helpers import ARTIFACTS, WAIT_MS, chromium, served
from tests.web.test_isolation import api_routes

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "src" / "earful" / "web" / "static" / "vendor" / "axe.min.js"
DOCS_SHOTS = os.environ.get("EARFUL_DOCS_SHOTS")  # `make screenshots`: docs/screenshots
WIDE = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 812}

# Every full page, by its route's path; {names} are filled from the demo desk. Signed-in
# pages are seen by the demo admin (the strongest role: every control is on the page).
PAGES: dict[str, str] = {
    "inbox": "/inbox",
    "search": "/inbox?status=all&q=bag",
    "conversation": "/c/{conv_id}",
    "dashboards": "/dashboard",
    "dashboard": "/brands/{slug}/dashboard",
    "alert": "/alerts/{alert_id}",
    "brands": "/brands",
    "settings": "/brands/{slug}/settings",
    "queries": "/brands/{slug}/queries",
    "saved replies": "/brands/{slug}/canned",
    "audit": "/brands/{slug}/audit",
    "account": "/account",
    "second factor": "/account/totp",
    "sessions": "/account/sessions",
    "sources": "/brands/{slug}/sources",
    "service levels": "/brands/{slug}/service-levels",
    "retention": "/brands/{slug}/retention",
    "notifications": "/brands/{slug}/notifications",
    "webhooks": "/brands/{slug}/webhooks",
    "erase customer": "/brands/{slug}/customers/{identity_id}/erase",
    "not found": "/c/999999999",
}
# The TOTP steps without a half-finished sign-in, and a survey link that is not one: the
# pages a stranger reaches there.
ANONYMOUS: dict[str, str] = {
    "login": "/login",
    "public": "/s/{slug}",
    "totp step": "/login/totp",
    "enrol step": "/login/enrol",
    "survey, bad link": "/csat/not-a-token",
}
# Fragments htmx swaps into the pages above (checked there, inside their page).
FRAGMENTS = {
    "/inbox/alerts",
    "/inbox/list",
    "/c/{conv_id}/activity",
    "/c/{conv_id}/engage",
    "/c/{conv_id}/canned/{canned_id}",
}
# What a page at 375 px must show, on screen, without scrolling sideways.
PHONE_CONTROLS: dict[str, list[str]] = {
    "inbox": ["#search", "tr.row a", "header nav a[href='/inbox']", "#keys-button"],
    "conversation": ["#take-form button", "#status-form button[value=resolved]", "#reply-text"],
    "dashboard": ["#chart-volume"],
    "settings": ["header nav a[href='/brands']"],
    "login": ["input[name=email]", "button[type=submit]"],
    "public": ["h1"],
}


@dataclass
class Desk:
    engine: Engine
    params: dict[str, str]


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    """`earful demo --no-serve`, as `make demo` runs it: brands, queries, the corpus
    through the pipeline, the demo admin."""
    home = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(home)  # no stray .env
        mp.setenv("EARFUL_DATA_DIR", str(home / "data"))
        mp.delenv("EARFUL_DATABASE_URL", raising=False)
        loaded = CliRunner().invoke(cli, ["demo", "--no-serve", "--posts", "3000"])
        assert loaded.exit_code == 0, loaded.output
        engine = make_engine(load_settings().resolved_database_url)
    with engine.connect() as conn:
        slug = conn.scalar(select(Brand.slug).where(Brand.slug == "skyward"))
        brand_id = conn.scalar(select(Brand.id).where(Brand.slug == "skyward"))
        # The conversation the docs show: the brand's longest open thread.
        conv_id = conn.scalar(
            select(Conversation.id)
            .where(Conversation.brand_id == brand_id, Conversation.status != "resolved")
            .order_by(Conversation.post_count.desc(), Conversation.id)
            .limit(1)
        )
        alert_id = conn.scalar(select(func.min(Alert.id)).where(Alert.brand_id == brand_id))
        identity_id = conn.scalar(
            select(Conversation.identity_id).where(Conversation.id == conv_id)
        )
    assert slug and conv_id and alert_id and identity_id, (slug, conv_id, alert_id)
    params = {"slug": slug, "conv_id": str(conv_id), "alert_id": str(alert_id)}
    yield Desk(engine, params | {"identity_id": str(identity_id)})
    engine.dispose()


@pytest.fixture(scope="module")
def base(desk: Desk) -> Iterator[str]:
    with served(desk.engine) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def context(browser: Any, base: str, signed_in: bool = True, **options: Any) -> Any:
    """A browser context (``options``: viewport, color_scheme...), logged in as the demo
    admin through the login form."""
    ctx = browser.new_context(viewport=options.pop("viewport", WIDE), **options)
    ctx.set_default_timeout(WAIT_MS)
    if signed_in:
        page = ctx.new_page()
        page.goto(f"{base}/login")
        page.fill("input[name=email]", DEMO_EMAIL)
        page.fill("input[name=password]", DEMO_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/inbox")
        page.close()
    return ctx


def url(base: str, path: str, desk: Desk) -> str:
    return base + path.format(**desk.params)


def settle(page: Any) -> None:
    """Let the page's fragments arrive (the engagement panel loads after the page)."""
    page.wait_for_load_state("load")
    if page.locator("#engage-panel").count():
        page.locator("#engage-panel #engage").wait_for()
    if page.locator("#chart-volume").count():
        page.locator("#chart-volume[data-ready='1']").wait_for()


# ------------------------------------------------------------------ accessibility

AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.impact} ${v.id}: ${v.help} at ` +
      v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", "));
}"""


def axe(page: Any) -> list[str]:
    page.add_script_tag(path=str(AXE))
    return list(page.evaluate(AXE_RUN))


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_serious_violation_on_any_page(
    browser: Any, base: str, desk: Desk, scheme: str
) -> None:
    found: dict[str, list[str]] = {}
    # bypass_csp: the app's CSP rightly refuses the injected axe script.
    for signed_in, pages in ((True, PAGES), (False, ANONYMOUS)):
        ctx = context(browser, base, signed_in, color_scheme=scheme, bypass_csp=True)
        page = ctx.new_page()
        for name, path in pages.items():
            page.goto(url(base, path, desk))
            settle(page)
            if name == "inbox":  # the dialog of keys, open, is checked too
                page.keyboard.press("?")
                page.get_by_role("dialog", name="Keyboard shortcuts").wait_for()
                if violations := axe(page):
                    found["keys dialog"] = violations
                page.keyboard.press("Escape")
            if violations := axe(page):
                found[name] = violations
        ctx.close()
    assert not found, "\n".join(f"{name}: {v}" for name, vs in found.items() for v in vs)


def test_every_page_is_checked(desk: Desk) -> None:
    """A new full page must be added to PAGES (or ANONYMOUS) to be checked."""
    app = create_app(desk.engine, secret_key="x" * 32, live=False)
    listed = {p.split("?")[0] for p in (*PAGES.values(), *ANONYMOUS.values())}
    listed |= {"/c/{conv_id}", "/csat/{token}"}  # the survey: checked as a bad link
    unlisted = [
        r.path
        for r in api_routes(list(app.routes))
        if "GET" in r.methods
        and r.response_class is HTMLResponse
        and r.path not in listed | FRAGMENTS
    ]
    assert not unlisted, f"add these pages to PAGES in {__file__}: {unlisted}"


# ------------------------------------------------------------------ the docs' screenshots


def test_the_docs_screenshots(browser: Any, base: str, desk: Desk) -> None:
    out = Path(DOCS_SHOTS) if DOCS_SHOTS else ARTIFACTS / "docs"
    out.mkdir(parents=True, exist_ok=True)
    shots = {
        "inbox": ("/inbox", WIDE, "light"),
        "conversation": ("/c/{conv_id}", WIDE, "light"),
        "dashboard": ("/brands/{slug}/dashboard", WIDE, "light"),
        "admin": ("/brands/{slug}/settings", WIDE, "light"),
        "inbox-dark": ("/inbox", WIDE, "dark"),
        "conversation-375-dark": ("/c/{conv_id}", PHONE, "dark"),
        "inbox-375": ("/inbox", PHONE, "light"),
    }
    for name, (path, viewport, scheme) in shots.items():
        ctx = context(browser, base, viewport=viewport, color_scheme=scheme)
        page = ctx.new_page()
        page.goto(url(base, path, desk))
        settle(page)
        page.screenshot(path=str(out / f"{name}.png"))
        ctx.close()
        assert (out / f"{name}.png").stat().st_size > 10_000


# ------------------------------------------------------------------ 375 px, dark


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_at_375_px_nothing_scrolls_sideways_and_the_controls_are_on_screen(
    browser: Any, base: str, desk: Desk, scheme: str
) -> None:
    wide: dict[str, int] = {}
    for signed_in, pages in ((True, PAGES), (False, ANONYMOUS)):
        ctx = context(browser, base, signed_in, viewport=PHONE, color_scheme=scheme)
        page = ctx.new_page()
        for name, path in pages.items():
            page.goto(url(base, path, desk))
            settle(page)
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > page.evaluate("document.documentElement.clientWidth"):
                wide[name] = width
            for selector in PHONE_CONTROLS.get(name, []):
                control = page.locator(selector).first
                assert control.is_visible(), f"{name}: {selector} is hidden at 375 px"
                box = control.bounding_box()
                assert box and box["x"] >= 0 and box["x"] + box["width"] <= 375, (
                    f"{name}: {selector} is off screen at 375 px: {box}"
                )
        ctx.close()
    assert not wide, f"these pages scroll sideways at 375 px (scrollWidth): {wide}"


BACKGROUND = "getComputedStyle(document.body).backgroundColor"


def dark(page: Any) -> bool:
    """The body's background is dark (its channels' mean below the middle)."""
    rgb = page.evaluate(BACKGROUND).split("(")[1].split(")")[0].split(",")[:3]
    return sum(int(float(c)) for c in rgb) / 3 < 128


@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["desktop", "375px"])
def test_the_link_account_form_stacks_its_fields_at_full_width(
    browser: Any, base: str, desk: Desk, viewport: dict[str, int]
) -> None:
    """In the conversation's side column (320 px on a desktop, the page's width on a
    phone) the two fields sit one under the other, each as wide as the form."""
    ctx = context(browser, base, viewport=viewport)
    page = ctx.new_page()
    page.goto(url(base, "/c/{conv_id}", desk))
    settle(page)
    form = page.locator("form.link-account")
    form.scroll_into_view_if_needed()
    network = form.get_by_label("Network", exact=True)
    account = form.get_by_label("Handle, id or address")
    network.fill("email")
    account.fill("dana.quillfeather@example.org")
    whole, n, a = form.bounding_box(), network.bounding_box(), account.bounding_box()
    assert a["y"] >= n["y"] + n["height"], (n, a)  # stacked, not squeezed side by side
    for box in (n, a):
        assert box["width"] >= whole["width"] - 2, (box, whole)
        assert box["width"] >= 250, box  # room for an address
    assert form.get_by_role("button", name="Link").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    ARTIFACTS.mkdir(exist_ok=True)
    name = f"link-account-{viewport['width']}.png"
    page.locator("section.customer-card").screenshot(path=str(ARTIFACTS / name))
    ctx.close()


def test_the_theme_follows_the_system_and_the_toggle_is_remembered(
    browser: Any, base: str, desk: Desk
) -> None:
    night = context(browser, base, color_scheme="dark").new_page()
    night.goto(f"{base}/inbox")
    assert dark(night)
    assert night.locator("#theme-toggle").get_attribute("aria-pressed") == "true"
    night.context.close()

    ctx = context(browser, base, color_scheme="light")
    page = ctx.new_page()
    page.goto(f"{base}/inbox")
    assert not dark(page)
    toggle = page.get_by_role("button", name="Dark theme")
    assert toggle.get_attribute("aria-pressed") == "false"
    toggle.click()
    assert dark(page) and toggle.get_attribute("aria-pressed") == "true"
    page.goto(url(base, "/c/{conv_id}", desk))  # another page: still dark
    assert dark(page)
    assert page.evaluate("localStorage.getItem('earful-theme')") == "dark"
    page.keyboard.press("t")  # and back, by key
    assert not dark(page)
    page.reload()
    assert not dark(page)
    ctx.close()


# ------------------------------------------------------------------ keyboard


def test_action_keys_pressed_at_once_all_take_effect_in_order(
    browser: Any, base: str, desk: Desk
) -> None:
    """An agent who presses "w" and at once "e" ends with the conversation resolved: the
    second key is not lost to the reload the first one starts, nor sent before it."""
    ctx = context(browser, base)
    page = ctx.new_page()
    page.goto(f"{base}/inbox")
    conv = page.locator("tr.row").nth(2).get_attribute("data-id")
    page.goto(f"{base}/c/{conv}")
    settle(page)
    page.keyboard.press("w")
    page.keyboard.press("e")
    page.locator("#status", has_text="resolved").wait_for()
    page.wait_for_load_state("load")
    page.goto(f"{base}/c/{conv}")  # the server's state, not the page's
    assert "resolved" in page.locator("#status").inner_text()
    # "e" pressed while the page reloads after "w" (the reload held back here) is kept,
    # and acted on once the page has loaded.
    held: list[Any] = []

    def hold(route: Any) -> None:
        held.append(route)

    page.route(f"{base}/c/{conv}", hold)
    with page.expect_response(lambda r: r.url.endswith(f"/c/{conv}/status")):
        page.keyboard.press("w")
    while not held:
        page.wait_for_timeout(20)
    page.keyboard.press("e")  # the old page is still shown, and is leaving
    held[0].continue_()
    page.unroute(f"{base}/c/{conv}", hold)
    page.locator("#status", has_text="resolved").wait_for()
    page.wait_for_load_state("load")
    page.goto(f"{base}/c/{conv}")
    assert "resolved" in page.locator("#status").inner_text()
    ctx.close()


def test_every_action_has_a_key_listed_on_question_mark(
    browser: Any, base: str, desk: Desk
) -> None:
    ctx = context(browser, base)
    page = ctx.new_page()
    page.goto(f"{base}/inbox")
    rows = page.locator("tr.row")
    first, second = rows.nth(0).get_attribute("data-id"), rows.nth(1).get_attribute("data-id")

    # "?" opens the list, a modal dialog with its name; Esc closes it, focus comes back.
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    dialog.wait_for()
    listed = dialog.inner_text()
    for key in ("j", "k", "o", "Enter", "a", "e", "r", "w", "n", "l", "c", "h", "u", "/", "g", "t"):
        assert f"\n{key}" in f"\n{listed}" or f" {key}" in listed, f"{key} is not listed"
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")

    # Keys do nothing while typing: "/" focuses the search, then j, ? are just letters.
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "search"
    page.keyboard.type("j?")
    assert page.locator("#search").input_value() == "j?"
    assert not dialog.is_visible()
    assert page.locator("tr.row.selected").get_attribute("data-id") == first
    page.keyboard.press("Escape")  # leaves the field: keys work again
    page.keyboard.press("j")
    assert page.locator("tr.row.selected").get_attribute("data-id") == second
    # The selected row's link has the focus, and shows it.
    assert page.evaluate("document.activeElement.closest('tr').dataset.id") == second
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")

    # o opens it; on the conversation r, n, l go to their fields; u goes back.
    page.keyboard.press("o")
    page.wait_for_url(f"{base}/c/{second}")
    page.locator("#engage form.compliment").wait_for()  # the panel c and h reach loads apart
    fields = {"r": "text", "n": "text", "l": "tag", "c": "action", "h": "channel"}
    for key, field in fields.items():
        page.keyboard.press(key)
        assert page.evaluate("document.activeElement.name") == field, key
        if field != "action":
            page.keyboard.press("Escape")
        else:
            page.evaluate("document.activeElement.blur()")
    page.keyboard.press("r")  # Ctrl+Enter sends what is being written
    page.keyboard.type("Sorry for the wait, we are on it.")
    page.keyboard.press("Control+Enter")
    page.locator("#replies li.reply-item", has_text="Sorry for the wait").wait_for()
    page.keyboard.press("w")  # waiting on the customer
    page.locator("#status", has_text="waiting").wait_for()
    page.keyboard.press("e")  # resolved
    page.locator("#status", has_text="resolved").wait_for()
    page.keyboard.press("u")
    page.wait_for_url(f"{base}/inbox")
    page.keyboard.press("g")
    page.keyboard.press("d")
    page.wait_for_url(re.compile(r"/dashboard$"))  # the list of dashboards, or the one
    ctx.close()
