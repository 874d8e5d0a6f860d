"""Spike alerts stored by the pipeline: the demo's Skyward Air outage raises one, early."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from earful.brands.service import create_brand
from earful.connectors.replay import FileReplay
from earful.db import transaction
from earful.demo.generate import START, brands_config, write
from earful.models import Alert, Brand, Post
from earful.pipeline.runner import Pipeline


def test_the_demo_outage_raises_an_alert_and_nothing_else(engine: Engine, tmp_path: Path) -> None:
    with transaction(engine) as session:
        for cfg in brands_config():
            create_brand(session, cfg["slug"], cfg["name"], cfg["keywords"], cfg["handles"])
    corpus = tmp_path / "demo.jsonl"
    write(corpus, seed=7, posts=3000)
    Pipeline(engine).ingest(FileReplay(corpus, "jsonl", batch_size=200))

    with Session(engine) as session:
        alerts = [
            (alert, slug)
            for alert, slug in session.execute(
                select(Alert, Brand.slug).join(Brand, Alert.brand_id == Brand.id)
            )
        ]
        labeled = session.scalars(select(Post.sentiment).where(Post.sentiment.is_not(None))).all()
    assert labeled, "the shipped classifier labels stored posts"
    assert alerts, "the outage burst raised no alert"
    burst = START + timedelta(hours=30)
    for alert, slug in alerts:
        assert slug == "skyward"
        assert burst - timedelta(minutes=15) <= alert.window_start <= burst + timedelta(minutes=45)
        assert alert.observed >= alert.expected * 3
        assert alert.post_ids
    kinds = {alert.kind for alert, _ in alerts}
    assert "negative" in kinds
    first = min(alert.window_start for alert, _ in alerts)
    assert first <= burst + timedelta(minutes=15)  # flagged within its first window


def test_replaying_the_stream_again_adds_no_alert(engine: Engine, tmp_path: Path) -> None:
    with transaction(engine) as session:
        for cfg in brands_config():
            create_brand(session, cfg["slug"], cfg["name"], cfg["keywords"], cfg["handles"])
    corpus = tmp_path / "demo.jsonl"
    write(corpus, seed=7, posts=3000)
    Pipeline(engine).ingest(FileReplay(corpus, "jsonl", batch_size=500))
    with engine.connect() as conn:
        before = conn.execute(select(Alert.id)).all()
    Pipeline(engine).ingest(FileReplay(corpus, "jsonl", batch_size=500), from_start=True)
    with engine.connect() as conn:
        assert conn.execute(select(Alert.id)).all() == before
