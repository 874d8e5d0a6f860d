"""A new admin runs a brand without a terminal: adds a brand, writes a query and previews
its matches, adds a colleague, sets service hours; the new colleague signs in."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Engine, select

from earful.db import transaction
from earful.models import Brand, EngagementSettings, ListeningQuery, Membership, User
from tests.e2e.test_browser import ARTIFACTS, browser, login, served  # noqa: F401
from tests.web.world import World


def test_a_new_admin_sets_up_a_brand_in_the_browser(
    browser: Any,  # noqa: F811
    served: tuple[str, World],  # noqa: F811
    sqlite_engine: Engine,
) -> None:
    base, _world = served
    page = login(browser, base, "alice")
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
