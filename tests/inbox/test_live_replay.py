"""A reopened event stream is sent the notifications and alerts it missed while closed.

Each ``notify`` and ``alert`` event carries an SSE id, the cursor ``a<alert>.n<notification>``;
a stream opened again with it (the browser's ``Last-Event-ID``, or ``?last=`` when the page
opens a new stream itself) first gets, from the database, what came after it: the caller's
own browser notifications and their brands' open alerts only, capped.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from earful.inbox.live import REPLAY_LIMIT
from earful.models import Base
from earful.web.hub import Cursor
from tests.inbox.test_alerts import raise_alert
from tests.web.world import World, build_world, client, login

TARGETS = Base.metadata.tables["notification_targets"]
NOTES = Base.metadata.tables["notifications"]


@dataclass(frozen=True)
class Frame:
    event: str
    id: str | None
    data: str


def frames(text: str) -> list[Frame]:
    """The events of a stream's text, as EventSource reads them (comments and retry aside)."""
    out = []
    for block in text.split("\n\n"):
        fields: dict[str, list[str]] = {}
        for line in block.splitlines():
            name, _, value = line.partition(": ")
            fields.setdefault(name, []).append(value)
        if "event" in fields:
            out.append(Frame(fields["event"][0], (fields.get("id") or [None])[0],
                             "\n".join(fields.get("data", []))))  # fmt: skip
    return out


def read(c: TestClient, ttl: float = 0.3, last_id: str | None = None, **params: str) -> list[Frame]:
    headers = {"Last-Event-ID": last_id} if last_id is not None else {}
    with c.stream("GET", "/events", params={"ttl": ttl, **params}, headers=headers) as r:
        assert r.status_code == 200
        return frames("".join(r.iter_text()))


def last_id(got: list[Frame]) -> str:
    """The id the browser would send back: that of the last event that carried one."""
    return [f.id for f in got if f.id is not None][-1]


def titles(got: list[Frame]) -> list[str]:
    return [json.loads(f.data)["title"] for f in got if f.event == "notify"]


def alerts(got: list[Frame]) -> list[str]:
    return [f.data for f in got if f.event == "alert"]


def notify(
    engine: Engine, brand_id: int, user_id: int, title: str, age: timedelta = timedelta()
) -> int:
    """A browser notification as the worker's round writes it (sent; its subject gone, so
    the event shows its title)."""
    at = datetime.now(UTC) - age
    target = {"brand_id": brand_id, "user_id": user_id, "channel": "browser"}
    with engine.begin() as conn:
        found = conn.execute(TARGETS.select().filter_by(**target)).first()
        if found is not None:
            target_id = found.id
        else:
            row = {**target, "events": ["assigned"], "timezone": "UTC", "quiet_mode": "hold",
                   "failures": 0, "created_at": at, "updated_at": at}  # fmt: skip
            target_id = conn.execute(insert(TARGETS).values(row)).inserted_primary_key[0]
        note = {"brand_id": brand_id, "user_id": user_id, "target_id": target_id,
                "channel": "browser", "event": "assigned", "key": f"assigned:0:{title}",
                "title": title, "link": None, "state": "sent", "settled": True,
                "created_at": at}  # fmt: skip
        return int(conn.execute(insert(NOTES).values(note)).inserted_primary_key[0])


def live(c: TestClient) -> None:
    c.app.state.tail.start()  # type: ignore[attr-defined]


@pytest.mark.parametrize("how", ["Last-Event-ID", "?last="])
def test_a_notification_sent_while_the_stream_was_closed_arrives_when_it_reopens(
    sqlite_engine: Engine, how: str
) -> None:
    w: World = build_world(sqlite_engine)
    c = client(sqlite_engine)
    login(c, "alice")
    tail = c.app.state.tail  # type: ignore[attr-defined]
    tail.start()
    alice = w.users["alice"]
    notify(sqlite_engine, w.brand_a, alice, "seen live")

    def later() -> None:
        time.sleep(0.3)
        tail.poll_once()

    threading.Thread(target=later).start()
    first = read(c, ttl=1.0)
    assert titles(first) == ["seen live"]
    had = last_id(first)

    # The page is closed (a restart, a laptop asleep): the tail publishes to nobody.
    notify(sqlite_engine, w.brand_a, alice, "missed")
    raise_alert(sqlite_engine, w.brand_a, 42)
    tail.poll_once()

    again = read(c, last_id=had) if how == "Last-Event-ID" else read(c, last=had)
    assert titles(again) == ["missed"]  # the one it had seen is not sent again
    [spike] = alerts(again)
    assert "Negative mentions spiking: 42 in the window" in spike
    # Each replayed event moves the id on; opened again at the newest, nothing is repeated.
    ids = [Cursor.parse(f.id) for f in again if f.event != "cursor"]
    assert None not in ids and len(set(ids)) == len(ids) == 2
    assert titles(read(c, last_id=last_id(again))) == []
    assert alerts(read(c, last_id=last_id(again))) == []


def test_a_reopened_stream_replays_no_other_users_notification_nor_other_brands_alert(
    sqlite_engine: Engine,
) -> None:
    w = build_world(sqlite_engine)
    c = client(sqlite_engine)
    login(c, "alice")
    live(c)
    had = last_id(read(c))  # a fresh stream's id: how far it starts
    notify(sqlite_engine, w.brand_a, w.users["agent"], "for the agent")
    notify(sqlite_engine, w.brand_b, w.users["bob"], "for bob")
    # Alice's own, but of a brand she no longer belongs to: not hers to see.
    notify(sqlite_engine, w.brand_b, w.users["alice"], "from her old brand")
    raise_alert(sqlite_engine, w.brand_b, 999)
    notify(sqlite_engine, w.brand_a, w.users["alice"], "hers")

    got = read(c, last_id=had)
    assert titles(got) == ["hers"]
    assert alerts(got) == []
    assert not any("999" in f.data or "for bob" in f.data for f in got)

    bob = client(sqlite_engine)
    login(bob, "bob")
    got = read(bob, last_id=had)
    assert titles(got) == ["for bob"]
    assert [("999 in the window" in a) for a in alerts(got)] == [True]


@pytest.mark.parametrize(
    "cursor", ["garbage", "a1.n", "a-1.n2", "n1.a1", "a1.n1 ", "a1234567890123456789.n1", "a١.n1"]
)
def test_a_malformed_cursor_gives_a_fresh_stream(sqlite_engine: Engine, cursor: str) -> None:
    w = build_world(sqlite_engine)
    notify(sqlite_engine, w.brand_a, w.users["alice"], "old news")
    raise_alert(sqlite_engine, w.brand_a, 41)
    c = client(sqlite_engine)
    login(c, "alice")
    live(c)
    tries = [read(c, last=cursor)]
    if cursor.isascii() and cursor == cursor.strip():  # what a header can carry
        tries.append(read(c, last_id=cursor))
    for got in tries:
        assert titles(got) == [] and alerts(got) == []
        assert [f.event for f in got] == ["cursor"]


def test_a_fresh_stream_replays_nothing_and_starts_its_id_at_the_newest_rows(
    sqlite_engine: Engine,
) -> None:
    w = build_world(sqlite_engine)
    note = notify(sqlite_engine, w.brand_a, w.users["alice"], "already on the page")
    raise_alert(sqlite_engine, w.brand_a, 41)
    c = client(sqlite_engine)
    login(c, "alice")
    live(c)
    got = read(c)
    assert titles(got) == [] and alerts(got) == []
    [opened] = got
    start = Cursor.parse(opened.id)
    assert opened.event == "cursor" and start is not None and start.note == note


def test_a_long_closed_stream_gets_the_last_few_of_the_day_only(sqlite_engine: Engine) -> None:
    w = build_world(sqlite_engine)
    alice = w.users["alice"]
    notify(sqlite_engine, w.brand_a, alice, "last week", age=timedelta(days=7))
    for i in range(REPLAY_LIMIT + 5):
        notify(sqlite_engine, w.brand_a, alice, f"note {i}")
    c = client(sqlite_engine)
    login(c, "alice")
    live(c)
    got = read(c, last_id="a0.n0")
    assert titles(got) == [f"note {i}" for i in range(5, REPLAY_LIMIT + 5)]


def test_an_event_replayed_before_the_tail_publishes_it_is_sent_once(
    sqlite_engine: Engine,
) -> None:
    w = build_world(sqlite_engine)
    c = client(sqlite_engine)
    login(c, "alice")
    tail = c.app.state.tail  # type: ignore[attr-defined]
    tail.start()
    had = last_id(read(c))
    notify(sqlite_engine, w.brand_a, w.users["alice"], "written, not yet followed")

    def later() -> None:
        time.sleep(0.3)
        tail.poll_once()  # publishes it live to the stream that replayed it

    threading.Thread(target=later).start()
    got = read(c, ttl=1.0, last_id=had)
    assert titles(got) == ["written, not yet followed"]


def test_cursor_round_trip() -> None:
    assert Cursor.parse("a12.n345") == Cursor(12, 345)
    assert str(Cursor(12, 345)) == "a12.n345"
    assert Cursor.parse(None) is None and Cursor.parse("") is None
