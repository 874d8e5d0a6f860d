"""What `earful demo` stores, without serving: the demo brands and their queries, the
generated corpus dated from ``anchor`` replayed through the pipeline, and the demo admin.
The CLI calls it, and so does the browser walk that starts from the demo desk."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import Engine, func, select

from earful.brands import repository as brand_repo
from earful.brands.service import create_brand
from earful.connectors.replay import FileReplay
from earful.db import transaction
from earful.demo.generate import brands_config, write
from earful.engagement.settings import set_public_page
from earful.listening.service import add_query
from earful.models import Post
from earful.pipeline.runner import IngestSummary, Pipeline
from earful.pipeline.second_tier import Relabeler
from earful.web.demo_account import ensure_demo_admin

BATCH = 2000  # as `earful ingest` reads a file


@dataclass(frozen=True, slots=True)
class Loaded:
    stored_before: int  # posts already there: they keep the times of their first load
    summary: IngestSummary
    email: str  # the demo login `earful demo` prints
    password: str


Replay = Callable[[Pipeline, FileReplay], IngestSummary]


def load_demo(
    engine: Engine,
    corpus: Path,
    posts: int,
    anchor: datetime,
    replay: Replay | None = None,
    second_tier: Relabeler | Literal[False] | None = None,
) -> Loaded:
    """Brands first (a post is routed by their keywords), then the corpus, then the admin
    of every brand. Calling it again adds no brand twice and no post twice. ``replay``
    runs the corpus through the pipeline (the CLI's shows a progress bar); ``second_tier``
    as :class:`Pipeline` takes it (None: the setting decides)."""
    with transaction(engine) as session:
        stored = session.scalar(select(func.count()).select_from(Post)) or 0
        for cfg in brands_config():
            if brand_repo.by_slug(session, cfg["slug"]) is None:
                brand = create_brand(
                    session, cfg["slug"], cfg["name"], cfg["keywords"], cfg["handles"]
                )
                for name, query in cfg["queries"].items():
                    add_query(session, brand.id, name, query)
                # The service page is opt-in; the demo shows it (/s/<brand>).
                x_handle = cfg["handles"]["x"][0]
                set_public_page(session, brand.id, published=True,
                                contact=f"DM @{x_handle} on X")  # fmt: skip
    write(corpus, seed=7, posts=posts, anchor=anchor, team=True)
    connector = FileReplay(corpus, "jsonl", BATCH)
    pipeline = Pipeline(engine, second_tier=second_tier)
    summary = replay(pipeline, connector) if replay else pipeline.ingest(connector)
    with transaction(engine) as session:
        email, password = ensure_demo_admin(session)
    return Loaded(stored, summary, email, password)
