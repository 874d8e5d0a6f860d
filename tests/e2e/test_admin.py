"""A new admin runs a brand without a terminal: adds a brand, writes a query and previews
its matches, adds a colleague, sets service hours; the new colleague signs in. Then,
through the admin navigation, a live source, a holiday and SLA targets per priority.

The walk starts from what `make demo` builds (the demo brands, a slice of the demo corpus
through the pipeline, the demo admin), signed in with the login `earful demo` prints, and
calls no command: everything after the load is done in the browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from earful.db import transaction
from earful.demo.load import Loaded, load_demo
from earful.models import (
    Brand,
    EngagementSettings,
    Holiday,
    ListeningQuery,
    Membership,
    Post,
    SlaPolicy,
    Source,
    User,
)
from earful.models.base import utcnow
from tests.e2e.journey_helpers import served
from tests.e2e.test_browser import ARTIFACTS, browser  # noqa: F401

DEMO_POSTS = 400  # a slice of the demo corpus (`make demo` loads 4,000): the same path


@pytest.fixture
def demo(sqlite_engine: Engine, tmp_path: Path) -> Iterator[tuple[str, Loaded]]:
    """`earful demo --no-serve`'s load, then the app as `earful serve` runs it."""
    loaded = load_demo(sqlite_engine, tmp_path / "demo-corpus.jsonl", DEMO_POSTS, utcnow())
    with served(sqlite_engine) as base:
        yield base, loaded


def test_a_new_admin_sets_up_a_brand_in_the_browser(
    browser: Any,  # noqa: F811
    demo: tuple[str, Loaded],
    sqlite_engine: Engine,
) -> None:
    base, loaded = demo
    with transaction(sqlite_engine) as s:  # the demo desk, not an empty one
        assert s.scalar(select(func.count()).select_from(Post)) > DEMO_POSTS / 2
        assert {"skyward", "brightline", "loafladle"} <= set(s.scalars(select(Brand.slug)))
    page = browser.new_context().new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=email]", loaded.email)  # the demo login `earful demo` prints
    page.fill("input[name=password]", loaded.password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/inbox")
    assert page.locator("text=Skyward").count() > 0  # the demo's conversations
    page.click("text=Brands")
    page.fill("input[name=name]", "Nimbus Mobile")
    page.fill("input[name=slug]", "nimbus")
    page.click("text=Add the brand")
    page.wait_for_url(re.compile(r"/brands/nimbus/settings"))
    assert "you are its admin" in page.locator(".saved").inner_text()

    # The brand: its keywords and its own account.
    page.fill("textarea[name=keywords]", "Nimbus\nNimbus Mobile")
    page.fill("input[name=handles]", "x:NimbusHelp")
    page.click("text=Save the brand")
    assert page.locator(".saved").inner_text() == "Brand saved."

    # Service hours: weekdays in Paris, a 30-minute target; a bad span is refused, not saved.
    page.fill("input[name=timezone]", "Europe/Paris")
    page.fill("input[name=mon]", "09:00-17:00")
    page.click("text=Save the hours")  # still "around the clock" (a new brand's default)
    assert "around the clock or give hours, not both" in page.content()
    page.go_back()
    page.uncheck("input[name=always]")
    page.fill("input[name=mon]", "9h to 5h")
    page.fill("input[name=target_minutes]", "30")
    page.click("text=Save the hours")
    assert "write spans like 09:00-17:00" in page.content()
    page.go_back()
    page.uncheck("input[name=always]")
    for day in ("mon", "tue", "wed", "thu", "fri"):
        page.fill(f"input[name={day}]", "09:00-12:30, 13:30-18:00")
    page.fill("input[name=timezone]", "Europe/Paris")
    page.fill("input[name=target_minutes]", "30")
    page.click("text=Save the hours")
    assert page.locator(".saved").inner_text() == "Service hours saved."
    assert page.locator("input[name=wed]").input_value() == "09:00-12:30, 13:30-18:00"

    # A colleague: their account is made, its password shown once.
    page.fill("input[name=email]", "nina@nimbus.example")
    page.fill("#team ~ form input[name=name], form[action$='/members'] input[name=name]", "Nina")
    page.click("text=Add to the team")
    secret = page.locator(".secret code").inner_text()
    assert len(secret) >= 12
    page.screenshot(path=str(ARTIFACTS / "settings.png"), full_page=True)

    # A listening query, previewed on the brand's posts of the last 24 h before saving.
    page.goto(f"{base}/brands/nimbus/queries")
    page.fill("input[name=name]", "mentions")
    page.fill("#query-text", "nimbus AND (")
    page.locator("#preview .error").wait_for()
    assert "does not parse" in page.locator("#preview").inner_text()
    page.fill("#query-text", '(nimbus~ OR @NimbusHelp) NOT "nimbus cloud"')
    page.locator("#preview .preview-count").wait_for()
    page.click("text=Save the query")
    page.wait_for_url(re.compile(r"/brands/nimbus/queries"))
    assert "Query mentions saved." in page.content()
    page.screenshot(path=str(ARTIFACTS / "queries.png"), full_page=True)

    with transaction(sqlite_engine) as s:
        brand = s.scalar(select(Brand).where(Brand.slug == "nimbus"))
        assert brand is not None
        assert brand.keywords == ["Nimbus", "Nimbus Mobile"]
        assert brand.handles == {"x": ["NimbusHelp"]}
        assert brand.target_response_minutes == 30
        hours = s.get(EngagementSettings, brand.id)
        assert hours is not None and hours.timezone == "Europe/Paris"
        assert hours.hours["fri"] == [["09:00", "12:30"], ["13:30", "18:00"]]
        assert "sat" not in hours.hours
        query = s.scalar(select(ListeningQuery).where(ListeningQuery.brand_id == brand.id))
        assert query is not None and query.name == "mentions" and query.enabled
        nina = s.scalar(select(User).where(User.email == "nina@nimbus.example"))
        assert nina is not None
        role = s.scalar(select(Membership.role).where(Membership.user_id == nina.id))
        assert role is not None and role.value == "agent"

    # Nina signs in with the password she was given, and works in the new brand.
    ctx = browser.new_context()
    nina_page = ctx.new_page()
    nina_page.goto(f"{base}/login")
    nina_page.fill("input[name=email]", "nina@nimbus.example")
    nina_page.fill("input[name=password]", secret)
    nina_page.click("button[type=submit]")
    nina_page.wait_for_url(f"{base}/inbox")
    assert nina_page.goto(f"{base}/brands/nimbus/settings").status == 403  # an agent

    # Through the admin navigation: a live source (its secret sealed, never shown back)...
    page.goto(f"{base}/brands/nimbus/settings")
    page.click("nav.admin-nav >> text=Live sources")
    page.wait_for_url(re.compile(r"/brands/nimbus/sources"))
    page.select_option("select[name=kind]", "webhook")
    page.click("text=Show its settings")  # no script: the form comes back with its fields
    page.fill("input[name=name]", "nimbus-forum")
    page.get_by_label("Shared secret").fill("whsec-e2e-never-shown")
    page.click("text=Add the source")
    assert page.locator(".saved").inner_text() == "Source nimbus-forum added."
    row = page.locator("tr", has_text="nimbus-forum")
    assert "set" in row.inner_text() and "never" in row.inner_text()
    assert "whsec-e2e-never-shown" not in page.content()
    page.click("text=Pause nimbus-forum")
    assert page.locator(".saved").inner_text() == "Source paused."
    assert "paused" in page.locator("tr", has_text="nimbus-forum").inner_text()
    page.screenshot(path=str(ARTIFACTS / "sources.png"), full_page=True)

    # ...a holiday and an SLA target per priority.
    page.click("nav.admin-nav >> text=Holidays and SLA targets")
    page.wait_for_url(re.compile(r"/brands/nimbus/service-levels"))
    page.fill("input[name=day]", "2026-12-25")
    page.fill("input[name=name]", "Christmas")
    page.click("text=Close on this day")
    assert page.locator(".saved").inner_text() == "Closed on 2026-12-25."
    assert "Christmas" in page.locator("table.holidays").inner_text()
    page.fill("input[name=urgent]", "15")
    page.fill("input[name=low]", "1440")
    page.click("text=Save the SLA targets")
    assert page.locator(".saved").inner_text() == "SLA targets saved."
    assert page.locator("input[name=urgent]").input_value() == "15"
    page.screenshot(path=str(ARTIFACTS / "service-levels.png"), full_page=True)

    with transaction(sqlite_engine) as s:
        brand = s.scalar(select(Brand).where(Brand.slug == "nimbus"))
        assert brand is not None
        source = s.scalar(select(Source).where(Source.brand_id == brand.id))
        assert source is not None and source.kind == "webhook" and source.paused
        assert "whsec-e2e-never-shown" not in str(source.config)
        assert [(h.day.isoformat(), h.name) for h in s.scalars(select(Holiday))] == [
            ("2026-12-25", "Christmas")
        ]
        targets = {p.priority: p.target_minutes for p in s.scalars(select(SlaPolicy))}
        assert targets == {"urgent": 15, "low": 1440}
