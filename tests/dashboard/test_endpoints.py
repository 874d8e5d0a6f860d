"""Dashboard routes: the page and its charts' data, CSV downloads, the JSON API, access."""

from __future__ import annotations

import json
import re

from sqlalchemy import Engine

from earful.auth.service import grant
from earful.db import transaction
from earful.models import Role
from earful.models.base import utcnow
from tests.dashboard.dataset import build
from tests.inbox.test_alerts import raise_alert
from tests.web.world import SECRET_B, build_world, client, login


def test_page_api_and_csv_agree(engine: Engine) -> None:
    w = build_world(engine)
    build(engine, w, utcnow())
    c = client(engine)
    login(c, "viewer")  # reading the dashboard needs no more than the viewer role
    page = c.get("/brands/acme/dashboard?days=3")
    assert page.status_code == 200
    assert 'href="/dashboard"' in page.text
    for chart in ("volume", "intents", "response", "agents"):
        assert f'id="chart-{chart}"' in page.text
        assert f"/brands/acme/dashboard.csv?chart={chart}&amp;days=3" in page.text
    assert '<script src="/static/dashboard.js" defer></script>' in page.text
    block = re.search(r'id="dashboard-data">(.*?)</script>', page.text, re.S)
    assert block
    embedded = json.loads(block.group(1))
    api = c.get("/api/v1/brands/acme/dashboard", params={"days": 3}).json()
    embedded.pop("until"), api.pop("until")  # now, a few milliseconds apart
    assert embedded == api
    assert api["response"]["answered"] == 3 and api["response"]["within_target_pct"] == 50.0
    assert {i["intent"]: i["posts"] for i in api["intents"]} == {
        "complaint": 2,
        "question": 2,
        "compliment": 1,
        "unlabelled": 3,  # the world's own three posts of half an hour ago
    }
    assert SECRET_B not in page.text
    r = c.get("/brands/acme/dashboard.csv", params={"chart": "agents", "days": 3})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == 'attachment; filename="acme-agents-3d.csv"'
    assert r.text.splitlines()[0] == "user_id,name,role,open_assigned,replies"
    assert f"{w.users['alice']},Alice,admin,2,1" in r.text.splitlines()
    assert c.get("/brands/acme/dashboard.csv", params={"chart": "nope"}).status_code == 422


def test_dashboard_access(engine: Engine) -> None:
    w = build_world(engine)
    c = client(engine)
    assert c.get("/api/v1/brands/acme/dashboard").status_code == 401
    r = c.get("/brands/acme/dashboard", headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    login(c, "alice")
    assert c.get(f"/brands/{w.slug_b}/dashboard").status_code == 404
    assert c.get(f"/brands/{w.slug_b}/dashboard.csv?chart=volume").status_code == 404
    assert c.get(f"/api/v1/brands/{w.slug_b}/dashboard").status_code == 404
    assert c.get("/api/v1/brands/nope/dashboard").status_code == 404
    r = c.get("/dashboard", follow_redirects=False)  # one brand: straight to it
    assert r.status_code == 303 and r.headers["location"] == "/brands/acme/dashboard"
    assert "/api/v1/brands/{slug}/dashboard" in c.get("/openapi.json").json()["paths"]


def test_several_brands_are_seen_side_by_side_with_their_week(engine: Engine) -> None:
    w = build_world(engine)
    build(engine, w, utcnow())
    with transaction(engine) as s:
        grant(s, w.users["alice"], w.brand_b, Role.VIEWER)
    raise_alert(engine, w.brand_b, 42)
    c = client(engine)
    login(c, "alice")
    page = c.get("/dashboard")
    assert page.status_code == 200
    cards: dict[str, str] = {}
    for slug in ("acme", w.slug_b):
        card = re.search(rf'<section class="brand-week" id="brand-{slug}">(.*?)</section>',
                         page.text, re.S)  # fmt: skip
        assert card, slug
        cards[slug] = text = card.group(1)
        week = c.get(f"/api/v1/brands/{slug}/dashboard", params={"days": 7}).json()
        r = week["response"]
        assert f'href="/brands/{slug}/dashboard"' in text and f'href="/inbox?brand={slug}"' in text
        assert f", {r['pending']} inside it" in text
        posts = sum(day["total"] for day in week["volume"])
        assert f"Customer posts</dt>\n    <dd>{posts}" in text
    week = c.get("/api/v1/brands/acme/dashboard", params={"days": 7}).json()["response"]
    assert week["overdue_unanswered"] >= 1  # the question of four hours ago
    assert f"{week['overdue_unanswered']} past the 60 min target" in cards["acme"]
    assert f"{week['answered']}: {week['within_target_pct']} % within the target" in cards["acme"]
    assert "spike alert" not in cards["acme"]  # brand B's alert is on brand B's card only
    assert "1 open spike alert: <bdi>Negative mentions spiking: 42" in cards[w.slug_b]
    login(c, "bob")  # one brand: straight to its dashboard, nothing of the other brand
    r = c.get("/dashboard", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/brands/{w.slug_b}/dashboard"
