"""`earful demo` dates its corpus from the moment it starts, and nothing else changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from earful.brands.service import create_brand
from earful.cli.main import app
from earful.config import load_settings
from earful.connectors.replay import FileReplay
from earful.db import make_engine, transaction
from earful.demo.generate import LEAD, STEP, brands_config, generate, write
from earful.migrate import upgrade
from earful.models import Alert, Brand, Conversation, Post
from earful.pipeline.runner import Pipeline
from earful.understanding.tier2 import shipped_second_tier
from tests.pipeline.helpers import canonical
from tests.web.world import client

ANCHOR = datetime(2027, 3, 9, 14, 22, 31, 250_000, tzinfo=UTC)


def _when(doc: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(doc["created_at"].replace("Z", "+00:00"))


def _undated(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "created_at"}


def test_two_anchors_give_the_same_posts_moved_by_their_difference() -> None:
    later = ANCHOR + timedelta(days=3, hours=5, minutes=45)  # the same phase of the clock
    first = list(generate(seed=7, posts=2000, anchor=ANCHOR))
    second = list(generate(seed=7, posts=2000, anchor=later))
    assert [_undated(d) for d in first] == [_undated(d) for d in second]
    assert {_when(b) - _when(a) for a, b in zip(first, second, strict=True)} == {later - ANCHOR}
    # Without an anchor: the same posts again, dated from the fixed start.
    fixed = list(generate(seed=7, posts=2000))
    assert [_undated(d) for d in fixed] == [_undated(d) for d in first]
    assert len({_when(b) - _when(a) for a, b in zip(fixed, first, strict=True)}) == 1


@pytest.mark.parametrize("offset", [timedelta(0), timedelta(hours=7, minutes=3, seconds=21.5)])
def test_the_newest_post_is_minutes_old_and_history_spans_days(offset: timedelta) -> None:
    anchor = ANCHOR + offset
    docs = list(generate(seed=7, posts=4000, anchor=anchor))
    newest, oldest = max(map(_when, docs)), min(map(_when, docs))
    assert LEAD <= anchor - newest < LEAD + STEP  # minutes old, never in the future
    assert timedelta(days=1) < anchor - oldest < timedelta(days=7)
    # Any anchor moves the corpus by whole spike-detector windows: each post keeps its
    # place in its window, so the same windows fill up and the same alerts are raised.
    start = _when(next(generate(seed=7, posts=4000)))
    shift = _when(docs[0]) - start
    assert shift % STEP == timedelta(0)
    base = _when(next(generate(seed=7, posts=4000, anchor=ANCHOR))) - start
    assert abs((shift - base) - offset) < STEP


def _desk(tmp_path: Path, anchor: datetime) -> tuple[dict[str, Any], list[tuple[Any, ...]], Engine]:
    """Ingest the demo corpus dated at ``anchor``; the state without times, the alerts with
    their window start relative to the newest post, and the engine."""
    engine = make_engine(f"sqlite:///{tmp_path / f'{anchor.timestamp()}.db'}")
    upgrade(engine)
    with transaction(engine) as s:
        for cfg in brands_config():
            create_brand(s, cfg["slug"], cfg["name"], cfg["keywords"], cfg["handles"])
    corpus = tmp_path / f"{anchor.timestamp()}.jsonl"
    write(corpus, seed=7, posts=3000, anchor=anchor)
    Pipeline(engine).ingest(FileReplay(corpus, "jsonl", batch_size=500))
    state = canonical(engine)
    newest = max(post[-1] for post in state["posts"])
    with engine.connect() as conn:
        alerts = sorted(
            (slug, kind, newest - start, observed, round(expected, 6))
            for slug, kind, start, observed, expected in conn.execute(
                select(
                    Brand.slug, Alert.kind, Alert.window_start, Alert.observed, Alert.expected
                ).join(Brand, Brand.id == Alert.brand_id)
            )
        )
    undated = {
        "posts": [post[:-1] for post in state["posts"]],
        "identities": state["identities"],
        "conversations": state["conversations"],
        "counts": [(slug, kind, n) for slug, kind, _, n in state["mention_counts"]],
    }
    return undated, alerts, engine


@pytest.mark.slow
def test_the_desk_is_the_same_whenever_the_demo_starts(tmp_path: Path) -> None:
    one, one_alerts, a = _desk(tmp_path, ANCHOR)
    other, other_alerts, b = _desk(tmp_path, ANCHOR + timedelta(hours=5, minutes=7, seconds=13))
    assert one == other
    assert one_alerts and one_alerts == other_alerts  # the outage, wherever it falls
    with a.connect() as conn:
        statuses = set(conn.scalars(select(Conversation.status)))
    assert len(statuses) > 2  # new, open, waiting: a desk with work in every state
    a.dispose()
    b.dispose()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("EARFUL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("EARFUL_DATABASE_URL", raising=False)
    return tmp_path


def _newest_and_count(engine: Engine) -> tuple[datetime, int]:
    with engine.connect() as conn:
        newest, n = conn.execute(select(func.max(Post.created_at), func.count(Post.id))).one()
    return newest.replace(tzinfo=UTC), n


def _labeled_by_second_tier(engine: Engine) -> set[str | None]:
    """Which tiers labeled the customers' posts."""
    with engine.connect() as conn:
        return set(
            conn.scalars(
                select(Post.tier2_version)
                .distinct()
                .where(Post.from_brand.is_(False), Post.deleted_at.is_(None))
            )
        )


def shipped_version() -> str:
    tier = shipped_second_tier()
    assert tier is not None
    return tier.version


def test_earful_demo_loads_a_corpus_whose_newest_posts_are_minutes_old(env: Path) -> None:
    runner = CliRunner()
    before = datetime.now(UTC)
    loaded = runner.invoke(app, ["demo", "--no-serve", "--posts", "500"])
    after = datetime.now(UTC)
    assert loaded.exit_code == 0, loaded.output
    engine = make_engine(load_settings().resolved_database_url)
    newest, stored = _newest_and_count(engine)
    assert before - LEAD - STEP < newest <= after - LEAD
    corpus = [orjson.loads(line) for line in (env / "data" / "demo-corpus.jsonl").open("rb")]
    customers = [d for d in corpus if not d["from_brand"]]
    assert len(corpus) > 500 and stored > 300  # 500 posts and the team's answers
    assert len([d for d in corpus if "-team-" not in d["id"]]) == 500
    # The desk opens on a backlog of the last hours, not on days of unanswered posts.
    with engine.connect() as conn:
        waiting = conn.scalar(
            select(func.count()).select_from(Conversation).where(Conversation.status == "new")
        )
    assert 0 < (waiting or 0) < len(customers) / 3
    # Each demo brand's public service page is published, and the demo says where.
    assert "/s/skyward" in loaded.output
    page = client(engine).get("/s/skyward/status.json")
    assert page.status_code == 200, page.text
    assert page.json()["preferred_contact"] == "DM @SkywardAir on X"
    assert page.json()["networks"] == ["bluesky", "mastodon", "reddit", "x"]
    # The page names them as people write them.
    assert "We answer on Bluesky, Mastodon, Reddit, X." in client(engine).get("/s/skyward").text
    # The demo shows the second tier's labels on every customer post of a brand.
    version = _labeled_by_second_tier(engine)
    assert version == {shipped_version()}
    assert f"labels: second tier {shipped_version()}" in loaded.output

    again = runner.invoke(app, ["demo", "--no-serve", "--posts", "500"])
    assert again.exit_code == 0, again.output
    assert "keep the times of their first load" in again.output
    assert _newest_and_count(engine) == (newest, stored)

    engine.dispose()
    fresh = runner.invoke(
        app, ["demo", "--no-serve", "--posts", "500", "--fresh", "--fast-tier-only"]
    )
    assert fresh.exit_code == 0, fresh.output
    assert "keep the times" not in fresh.output
    engine = make_engine(load_settings().resolved_database_url)
    renewed, restored = _newest_and_count(engine)
    assert restored == stored and newest <= renewed <= datetime.now(UTC) - LEAD
    assert _labeled_by_second_tier(engine) == {None}  # the fast tier's labels only
    assert "labels: fast tier only" in fresh.output
    engine.dispose()


def test_fresh_never_deletes_a_configured_database(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EARFUL_DATABASE_URL", f"sqlite:///{env / 'mine.db'}")
    refused = CliRunner().invoke(app, ["demo", "--no-serve", "--fresh"])
    assert refused.exit_code == 2
    assert "only deletes the embedded SQLite database" in refused.output


def test_the_demo_team_answers_the_old_mentions_and_leaves_the_last_hours_waiting() -> None:
    docs = list(generate(seed=7, posts=3000, anchor=ANCHOR, team=True))
    plain = list(generate(seed=7, posts=3000, anchor=ANCHOR))
    assert docs[: len(plain)] == plain  # the same corpus, the team's answers after it
    answers = docs[len(plain) :]
    ids = {d["id"] for d in plain}
    assert answers and all(a["from_brand"] and a["reply_to"] in ids for a in answers)
    end = max(_when(d) for d in plain)
    team_answered = {a["reply_to"] for a in answers}
    answered = {d["reply_to"] for d in docs if d["from_brand"]}
    mentions = [d for d in plain if not d["from_brand"] and d["reply_to"] is None]
    old = [m for m in mentions if _when(m) < end - timedelta(hours=2, minutes=15)]
    recent = [m for m in mentions if _when(m) > end - timedelta(minutes=20)]
    assert recent and not any(m["id"] in team_answered for m in recent)  # they wait
    # About two in three mentions are about a brand (the rest is noise nobody answers):
    # those that are old all have an answer now.
    assert sum(m["id"] in answered for m in old) > 0.6 * len(old)
    assert all(_when(a) <= end - timedelta(minutes=15) for a in answers)
