"""Dashboard routes: the page and its charts' data, CSV downloads, the JSON API, access."""

from __future__ import annotations

import json
import re

from sqlalchemy import Engine

from earful.models.base import utcnow
from tests.dashboard.dataset import build
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
