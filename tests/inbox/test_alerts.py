"""Spike alerts: on the inbox, in the live feed (SSE) and on the dashboard, per brand."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert

from earful.auth.service import load_principal
from earful.db import transaction
from earful.engagement import service as engagement
from earful.models import Base, JobState, OutboundJob
from tests.web.world import SECRET_B, World, build_world, client, login

ALERTS = Base.metadata.tables["alerts"]


def raise_alert(engine: Engine, brand_id: int, observed: int, acknowledged: bool = False) -> None:
    start = datetime.now(UTC) - timedelta(minutes=15)
    with engine.begin() as conn:
        conn.execute(
            insert(ALERTS).values(
                brand_id=brand_id,
                kind="negative",
                window_start=start,
                window_end=start + timedelta(minutes=15),
                observed=observed,
                expected=2.0,
                ratio=observed / 2.0,
                surprise=9.0,
                post_ids=[],
                created_at=datetime.now(UTC),
                acknowledged_at=datetime.now(UTC) if acknowledged else None,
            )
        )


def test_open_alerts_show_on_inbox_and_dashboard(sqlite_engine: Engine) -> None:
    w: World = build_world(sqlite_engine)
    raise_alert(sqlite_engine, w.brand_a, 41)
    raise_alert(sqlite_engine, w.brand_a, 77, acknowledged=True)
    raise_alert(sqlite_engine, w.brand_b, 999)
    c = client(sqlite_engine)
    login(c, "alice")
    inbox = c.get("/inbox").text
    assert "Negative mentions spiking: 41 in the window, 2.0 expected" in inbox
    assert (
        "77 in the window" not in inbox
        and "999 in the window" not in inbox
        and SECRET_B not in inbox
    )
    board = c.get(f"/api/v1/brands/{w.slug_a}/dashboard").json()
    assert [a["title"] for a in board["alerts"]] == [
        "Negative mentions spiking: 41 in the window, 2.0 expected (20×)"
    ]
    csv = c.get(f"/brands/{w.slug_a}/dashboard.csv", params={"chart": "alerts"}).text
    assert "41 in the window" in csv and "999 in the window" not in csv


def test_new_alert_reaches_the_live_feed_of_its_brand_only(sqlite_engine: Engine) -> None:
    w = build_world(sqlite_engine)
    c = client(sqlite_engine)
    login(c, "alice")
    tail = c.app.state.tail  # type: ignore[attr-defined]
    tail.start()

    def later() -> None:
        time.sleep(0.3)
        raise_alert(sqlite_engine, w.brand_b, 999)
        raise_alert(sqlite_engine, w.brand_a, 42)
        tail.poll_once()

    threading.Thread(target=later).start()
    with c.stream("GET", "/events", params={"ttl": 1.5}) as r:
        assert r.status_code == 200
        text = "".join(r.iter_text())
    assert "event: alert" in text
    assert "Negative mentions spiking: 42 in the window" in text
    assert "999 in the window" not in text


def test_an_outbound_send_reaches_the_open_conversation_live(sqlite_engine: Engine) -> None:
    """A like queued, then sent, by another process: the conversation's viewers hear of each
    change without a reload. Each change is watched on its own stream, because two reloads
    still waiting together rightly reach the page as one."""
    w = build_world(sqlite_engine)
    c = client(sqlite_engine)
    login(c, "alice")
    tail = c.app.state.tail  # type: ignore[attr-defined]
    tail.start()
    conv = w.convs_a[0]
    job_ids: list[int] = []

    def queue_like() -> None:
        with transaction(sqlite_engine) as s:  # as the endpoint of another process would
            alice = load_principal(s, w.users["alice"])
            assert alice is not None
            job_ids.append(engagement.compliment_click(s, alice, conv, ("like",))[0].id)

    def mark_sent() -> None:
        with transaction(sqlite_engine) as s:  # as the outbound worker would
            sent = s.get(OutboundJob, job_ids[0])
            assert sent is not None
            sent.state = JobState.SENT

    for change in (queue_like, mark_sent):

        def later(change: Callable[[], None] = change) -> None:
            time.sleep(0.3)
            change()
            tail.poll_once()

        threading.Thread(target=later).start()
        with c.stream("GET", "/events", params={"ttl": 1.5, "conversation": conv}) as r:
            text = "".join(r.iter_text())
        assert text.count(f"event: conv-{conv}\ndata: job") == 1, change.__name__
