"""Dashboard figures on a small dataset known by hand, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from earful.auth.service import load_principal
from earful.dashboard import service
from earful.dashboard.schemas import DashboardOut
from earful.db import transaction
from earful.errors import NotFound
from tests.dashboard.dataset import build
from tests.web.world import World, build_world

NOW = datetime(2024, 5, 10, 14, 0, tzinfo=UTC)


def figures(engine: Engine, w: World, who: str = "alice", slug: str = "acme") -> DashboardOut:
    with transaction(engine) as s:
        principal = load_principal(s, w.users[who])
        assert principal is not None
        return service.dashboard(s, principal, slug, days=3, now=NOW)


@pytest.fixture
def known(engine: Engine) -> World:
    w = build_world(engine)
    build(engine, w, NOW)
    return w


def test_volume_and_sentiment_per_day(engine: Engine, known: World) -> None:
    d = figures(engine, known)
    assert d.since == datetime(2024, 5, 8, tzinfo=UTC)
    assert [(v.day, v.total, v.negative, v.neutral, v.positive) for v in d.volume] == [
        ("2024-05-08", 1, 1, 0, 0),
        ("2024-05-09", 2, 1, 0, 1),
        ("2024-05-10", 2, 0, 2, 0),
    ]


def test_intent_shares(engine: Engine, known: World) -> None:
    d = figures(engine, known)
    assert [(i.intent, i.posts, i.share) for i in d.intents] == [
        ("complaint", 2, 0.4),
        ("question", 2, 0.4),
        ("compliment", 1, 0.2),
    ]


def test_response_time_percentiles_and_target(engine: Engine, known: World) -> None:
    r = figures(engine, known).response
    # Waits 10, 30 (brand posts) and 120 (an agent's queued reply); held/discarded ignored.
    assert (r.answered, r.overdue_unanswered, r.pending) == (3, 1, 1)
    assert (r.p50_minutes, r.p75_minutes, r.p90_minutes, r.p99_minutes) == (
        30.0,
        120.0,
        120.0,
        120.0,
    )
    assert r.within_target == 2
    assert r.within_target_pct == 50.0  # 2 of (3 answered + 1 overdue)


def test_agent_workload(engine: Engine, known: World) -> None:
    agents = {a.name: (a.role, a.open_assigned, a.replies) for a in figures(engine, known).agents}
    # Alice holds c1 (open) and c3 (new); Agent holds only a resolved one; Bob is brand B's.
    assert agents == {
        "Alice": ("admin", 2, 1),
        "Agent": ("agent", 0, 0),
        "Viewer": ("viewer", 0, 0),
    }


def test_a_quiet_brand_has_no_open_alerts(engine: Engine, known: World) -> None:
    assert figures(engine, known).alerts == []


def test_other_brand_is_not_found(engine: Engine, known: World) -> None:
    with pytest.raises(NotFound):
        figures(engine, known, who="alice", slug="bolt")
    b = figures(engine, known, who="bob", slug="bolt")
    assert sum(v.total for v in b.volume) == 2
    assert b.response.answered == 2  # Bob's sent reply answers both of B's posts


def test_percentile_is_nearest_rank() -> None:
    assert service.percentile([], 50) is None
    assert service.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert service.percentile([1.0, 2.0, 3.0, 4.0], 95) == 4.0


def test_csv_has_the_numbers_and_defuses_formulas(engine: Engine, known: World) -> None:
    d = figures(engine, known)
    rows = service.to_csv(d, "volume").splitlines()
    assert rows[0] == "day,total,negative,neutral,positive,unlabelled"
    assert rows[1:] == ["2024-05-08,1,1,0,0,0", "2024-05-09,2,1,0,1,0", "2024-05-10,2,0,2,0,0"]
    assert "within_target_pct,50.0" in service.to_csv(d, "response").splitlines()
    d.agents[0].name = "=HYPERLINK(1)"
    assert "'=HYPERLINK(1)" in service.to_csv(d, "agents")
