"""Inbox latency on generated data: first page, a filtered page, full-text search (p95 ms).

Each request goes through the whole app (HTTP in process, access check, SQL, template).
Baselines, same run and same data: the page ordered by the priority computed at query
time (no use of the brand/key index), and search by ``LIKE '%word%'`` instead of FTS.
"""

from __future__ import annotations

import random
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, text

from earful.auth.service import create_user
from earful.benchmarks.harness import Figure, Size, peak_rss_mb
from earful.brands.service import create_brand
from earful.db import make_engine, transaction
from earful.inbox import repository as inbox_repo
from earful.migrate import upgrade
from earful.models import Conversation, ConversationPost, ConversationStatus, Identity, Post, Role

SIZES = {"quick": 300, "default": 20_000, "large": 200_000}  # conversations
REPEAT = {"quick": 10, "default": 60, "large": 60}
POSTS_PER_CONVERSATION = 3
WORDS = [
    "late",
    "flight",
    "refund",
    "bag",
    "lost",
    "crew",
    "seat",
    "delay",
    "wifi",
    "food",
    "gate",
    "rude",
    "thanks",
    "great",
    "app",
]
PASSWORD = "benchmark-password"


def generate(engine: Engine, conversations: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    with transaction(engine) as s:
        brand = create_brand(s, "bench", "Bench Air")
        create_user(s, "bench@example.org", "Bench", PASSWORD, {brand.id: Role.AGENT})
        brand_id = brand.id
    step = 5000
    for start in range(0, conversations, step):
        ids = range(start, min(conversations, start + step))
        with engine.begin() as conn:
            conn.execute(
                insert(Identity),
                [
                    {
                        "id": i + 1,
                        "network": rng.choice(("bluesky", "mastodon")),
                        "external_id": f"a{i}",
                        "handle": f"user{i}",
                        "display_name": f"User {i}",
                        "created_at": now,
                    }
                    for i in ids
                ],
            )
            posts: list[dict[str, Any]] = []
            convs: list[dict[str, Any]] = []
            members: list[dict[str, int]] = []
            for i in ids:
                first = now - timedelta(minutes=rng.randint(1, 60 * 24 * 30))
                convs.append(
                    {
                        "id": i + 1,
                        "brand_id": brand_id,
                        "identity_id": i + 1,
                        "status": rng.choice(list(ConversationStatus)).value,
                        "subject": None,
                        "first_post_at": first,
                        "last_post_at": first,
                        "post_count": POSTS_PER_CONVERSATION,
                        "created_at": now,
                    }
                )
                for k in range(POSTS_PER_CONVERSATION):
                    pid = i * POSTS_PER_CONVERSATION + k + 1
                    body = " ".join(rng.choice(WORDS) for _ in range(8)) + f" n{pid}"
                    posts.append(
                        {
                            "id": pid,
                            "network": "bluesky",
                            "external_id": f"p{pid}",
                            "identity_id": i + 1,
                            "text": body,
                            "language": "en",
                            "created_at": first + timedelta(minutes=k),
                            "ingested_at": now,
                            "from_brand": k == 1 and rng.random() < 0.5,
                            "sentiment": rng.choice(("negative", "neutral", "positive")),
                            "sentiment_score": rng.random(),
                            "urgency": rng.randint(0, 3),
                            "intent": rng.choice(("complaint", "question", "compliment")),
                        }
                    )
                    members.append({"conversation_id": i + 1, "post_id": pid})
                convs[-1]["subject"] = posts[-POSTS_PER_CONVERSATION]["text"][:200]
            conn.execute(insert(Conversation), convs)
            conn.execute(insert(Post), posts)
            conn.execute(insert(ConversationPost), members)
        with transaction(engine) as s:
            inbox_repo.refresh_states(s, [i + 1 for i in ids])
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(text("ANALYZE"))


def p95_ms(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    p95 = times[max(0, round(0.95 * len(times)) - 1)]
    return p95, (max(times) - min(times)) / (statistics.median(times) or 1)


def run(size: Size) -> list[Figure]:
    from fastapi.testclient import TestClient

    from earful.web.app import create_app

    n = SIZES[size]
    repeat = REPEAT[size]
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'inbox.db'}")
        upgrade(engine)
        generate(engine, n)
        app = create_app(engine, secret_key="bench-secret-key-0123456789", live=False)
        c = TestClient(app, base_url="https://testserver")
        page = c.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token
        c.post(
            "/login",
            data={"email": "bench@example.org", "password": PASSWORD, "csrf_token": token.group(1)},
        )

        def get(url: str) -> Callable[[], object]:
            def call() -> object:
                r = c.get(url)
                assert r.status_code == 200, r.status_code
                return r

            return call

        def naive_page(search_like: str | None = None) -> Callable[[], object]:
            def call() -> object:
                with engine.connect() as conn:
                    where = "c.status IN ('new','open')"
                    if search_like:
                        where += (
                            " AND c.id IN (SELECT cp.conversation_id FROM conversation_posts cp "
                            "JOIN posts p ON p.id = cp.post_id WHERE p.text LIKE :like)"
                        )
                    return conn.execute(
                        text(
                            "SELECT c.id FROM conversations c JOIN conversation_states s "
                            "ON s.conversation_id = c.id JOIN brands b ON b.id = c.brand_id "
                            f"WHERE {where} ORDER BY (s.priority_key + :now) / "
                            "(b.target_response_minutes * 60.0) DESC LIMIT 51"
                        ),
                        {"now": time.time(), "like": f"%{search_like}%"},
                    ).all()

            return call

        figures = []
        for name, subject, baseline, target in (
            ("first page", get("/inbox"), naive_page(), 50.0),
            (
                "filtered page",
                get("/inbox?sentiment=negative&network=bluesky&intent=complaint"),
                naive_page(),
                50.0,
            ),
            ("full-text search", get("/inbox?q=refund+crew"), naive_page("refund"), 150.0),
        ):
            value, spread = p95_ms(subject, repeat)
            base, _ = p95_ms(baseline, repeat)
            figures.append(
                Figure(
                    suite="inbox",
                    name=f"{name} p95 ({n:,} conversations, SQLite)",
                    value=value,
                    unit="ms",
                    baseline=base,
                    target=f"p95 <= {target:.0f} ms",
                    n=repeat,
                    spread=spread,
                    higher_is_better=False,
                    peak_rss_mb=peak_rss_mb(),
                    passed=value <= target if size != "quick" else None,
                )
            )
        engine.dispose()
        return figures
