"""The admin's settings page turns the survey and the sign-on/off posts on; bad values
are refused with the reason and nothing is saved; only the brand's admins reach it."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from earful.db import transaction
from earful.engagement import shifts
from earful.models import AuditEvent, CsatSettings, ShiftPostSettings
from tests.web.world import World, build_world, client, login


@pytest.fixture
def world(engine: Engine) -> World:
    return build_world(engine)


def test_the_admin_sets_the_survey_and_the_posts(engine: Engine, world: World) -> None:
    c = client(engine)
    csrf = login(c, "alice")
    url = f"/brands/{world.slug_a}/settings/customer-posts"
    page = c.get(f"/brands/{world.slug_a}/settings").text
    assert 'action="' + url + '"' in page and shifts.DEFAULT_ON.replace("'", "&#39;") in page
    bad = c.post(url, data={"csrf_token": csrf, "csat": "true", "shift_posts": "true",
                            "sign_off": "Bye!"})  # fmt: skip
    assert bad.status_code == 400 and "{until}" in bad.text
    too_long = c.post(url, data={"csrf_token": csrf, "csat": "true", "csat_days": "365"})
    assert too_long.status_code == 400 and "between 1 and 90" in too_long.text
    with transaction(engine) as s:
        assert s.get(CsatSettings, world.brand_a) is None  # nothing half-saved
    ok = c.post(url, data={"csrf_token": csrf, "csat": "true", "csat_days": "10",
                           "shift_posts": "true", "shift_network": "mastodon",
                           "sign_off": "Off until {until} <b>"})  # fmt: skip
    assert ok.status_code == 200 and "Survey and sign-on/off posts saved." in ok.text
    assert "Off until {until} &lt;b&gt;" in ok.text  # shown back, escaped
    with transaction(engine) as s:
        csat = s.get(CsatSettings, world.brand_a)
        shift = s.get(ShiftPostSettings, world.brand_a)
        assert csat is not None and (csat.enabled, csat.valid_days) == (True, 10)
        assert shift is not None and shift.enabled and shift.sign_off == "Off until {until} <b>"
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.brand_id == world.brand_a))
        assert {"settings.csat", "settings.shift_posts"} <= set(actions)


@pytest.mark.parametrize(("who", "status"), [("agent", 403), ("bob", 404)])
def test_only_the_brands_admins_change_them(
    engine: Engine, world: World, who: str, status: int
) -> None:
    c = client(engine)
    csrf = login(c, who)
    r = c.post(f"/brands/{world.slug_a}/settings/customer-posts",
               data={"csrf_token": csrf, "csat": "true"})  # fmt: skip
    assert r.status_code == status
    with transaction(engine) as s:
        assert s.get(CsatSettings, world.brand_a) is None
