"""A spike raised by the pipeline, as agents meet it: in the inbox banner, opened onto the
posts that made it, acknowledged once and gone from every banner; other brands see none."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import Engine, select

from earful.auth.service import create_user
from earful.brands.service import create_brand
from earful.connectors.replay import FileReplay
from earful.db import transaction
from earful.demo.generate import brands_config, write
from earful.models import Alert, Brand, Role
from earful.pipeline.runner import Pipeline
from tests.web.world import PASSWORD, client, login


def demo_with_outage(engine: Engine, tmp_path: Path) -> dict[str, int]:
    """The demo corpus (its outage burst spikes one brand) through the pipeline, and a
    user per role: an agent and a viewer of the spiking brand, an agent of another."""
    with transaction(engine) as s:
        brands = {
            cfg["slug"]: create_brand(s, cfg["slug"], cfg["name"], cfg["keywords"], cfg["handles"])
            for cfg in brands_config()
        }
        ids = {slug: b.id for slug, b in brands.items()}
        other = next(slug for slug in ids if slug != "skyward")
        create_user(s, "agent@example.org", "Ann Agent", PASSWORD, {ids["skyward"]: Role.AGENT})
        create_user(s, "viewer@example.org", "Vic View", PASSWORD, {ids["skyward"]: Role.VIEWER})
        create_user(s, "other@example.org", "Oz Other", PASSWORD, {ids[other]: Role.AGENT})
    corpus = tmp_path / "demo.jsonl"
    write(corpus, seed=7, posts=3000)
    Pipeline(engine).ingest(FileReplay(corpus, "jsonl", batch_size=500))
    return ids


def test_an_agent_opens_a_spike_onto_its_posts_and_acknowledges_it(
    engine: Engine, tmp_path: Path
) -> None:
    ids = demo_with_outage(engine, tmp_path)
    with transaction(engine) as s:
        alert = s.scalars(
            select(Alert).where(Alert.brand_id == ids["skyward"]).order_by(Alert.id)
        ).first()
        assert alert is not None, "the demo outage raised no alert"
        alert_id, post_count = alert.id, len(alert.post_ids)

    agent = client(engine)
    csrf = login(agent, "agent")
    banner = agent.get("/inbox/alerts").text
    assert f'href="/alerts/{alert_id}"' in banner and "spiking" in banner
    assert "Acknowledge" in banner

    page = agent.get(f"/alerts/{alert_id}")
    assert page.status_code == 200
    links = set(re.findall(r'href="/c/(\d+)"', page.text))
    assert links, "the alert opens onto no conversation"
    assert f"The posts that made it ({min(post_count, 100)})" in page.text
    # Each linked conversation opens for this agent, and is one of the spiking brand's.
    some = sorted(links)[0]
    assert agent.get(f"/c/{some}").status_code == 200

    viewer = client(engine)
    viewer_csrf = login(viewer, "viewer")
    assert "Acknowledge" not in viewer.get(f"/alerts/{alert_id}").text
    r = viewer.post(f"/alerts/{alert_id}/ack", data={"csrf_token": viewer_csrf})
    assert r.status_code == 403

    other = client(engine)
    login(other, "other")
    assert other.get(f"/alerts/{alert_id}").status_code == 404
    assert f"/alerts/{alert_id}" not in other.get("/inbox").text
    assert other.get(f"/api/v1/alerts/{alert_id}").status_code == 404

    r = agent.post(f"/alerts/{alert_id}/ack", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert f'href="/alerts/{alert_id}"' not in agent.get("/inbox").text
    assert alert_id not in [a["id"] for a in agent.get("/api/v1/alerts").json()]
    with transaction(engine) as s:
        acked = s.get(Alert, alert_id)
        assert acked is not None and acked.acknowledged_at is not None
        first_ack = acked.acknowledged_at
        brand = s.get(Brand, acked.brand_id)
        assert brand is not None and brand.slug == "skyward"
    # Acknowledging again changes nothing: the first who and when stay.
    again = agent.post(f"/alerts/{alert_id}/ack", data={"csrf_token": csrf})
    assert again.status_code == 200
    with transaction(engine) as s:
        acked = s.get(Alert, alert_id)
        assert acked is not None and acked.acknowledged_at == first_ack
    detail = agent.get(f"/api/v1/alerts/{alert_id}").json()
    assert detail["alert"]["acknowledged_at"] is not None
    assert all(p["conversation_id"] for p in detail["posts"])
