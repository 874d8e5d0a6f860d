"""Settings pages: admins only; bad input says what is wrong and saves nothing; a brand
keeps an admin; the preview only reads the brand's own posts."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from earful.db import transaction
from earful.models import Brand, Membership, Role
from tests.web.world import SECRET_B, World, build_world, client, login


@pytest.fixture
def world(engine: Engine) -> World:
    return build_world(engine)


@pytest.mark.parametrize(("who", "status"), [("agent", 403), ("viewer", 403), ("bob", 404)])
def test_only_admins_reach_a_brands_settings(
    engine: Engine, world: World, who: str, status: int
) -> None:
    c = client(engine)
    csrf = login(c, who)
    for url in (f"/brands/{world.slug_a}/settings", f"/brands/{world.slug_a}/queries"):
        assert c.get(url).status_code == status
    r = c.post(
        f"/brands/{world.slug_a}/settings/brand",
        data={"csrf_token": csrf, "name": "Hijacked", "keywords": "x"},
    )
    assert r.status_code == status
    with transaction(engine) as s:
        assert s.get(Brand, world.brand_a).name == "Acme Air"  # type: ignore[union-attr]


def test_bad_settings_are_refused_with_the_reason(engine: Engine, world: World) -> None:
    c = client(engine)
    csrf = login(c, "alice")
    slug = world.slug_a
    form = {"csrf_token": csrf, "name": "Acme", "keywords": "acme", "handles": "AcmeHelp"}
    r = c.post(f"/brands/{slug}/settings/brand", data=form)
    assert r.status_code == 400 and "network:handle" in r.text
    r = c.post(f"/brands/{slug}/settings/hours",
               data={"csrf_token": csrf, "timezone": "Mars/Olympus", "target_minutes": "30",
                     "mon": "09:00-17:00"})  # fmt: skip
    assert r.status_code == 400 and "not a time zone" in r.text
    r = c.post(f"/brands/{slug}/settings/signing",
               data={"csrf_token": csrf, "signature_format": "^{nickname}"})  # fmt: skip
    assert r.status_code == 400 and "{initials}" in r.text
    # The only admin cannot demote themselves: the brand would be left without one.
    r = c.post(f"/brands/{slug}/members/{world.users['alice']}",
               data={"csrf_token": csrf, "role": "agent"})  # fmt: skip
    assert r.status_code == 409 and "at least one admin" in r.text
    with transaction(engine) as s:
        role = s.scalar(
            select(Membership.role).where(
                Membership.user_id == world.users["alice"], Membership.brand_id == world.brand_a
            )
        )
        assert role == Role.ADMIN


def test_the_preview_reads_only_the_brands_own_posts(engine: Engine, world: World) -> None:
    c = client(engine)
    csrf = login(c, "alice")
    r = c.post(f"/brands/{world.slug_a}/queries/preview",
               data={"csrf_token": csrf, "query": "flight OR bolt OR broken"})  # fmt: skip
    assert r.status_code == 200
    assert "match" in r.text and "flight" in r.text
    assert SECRET_B not in r.text and "broken" not in r.text.split("match")[1]
    r = c.post(f"/brands/{world.slug_a}/queries/preview",
               data={"csrf_token": csrf, "query": "flight AND ("})  # fmt: skip
    assert "does not parse at column" in r.text
