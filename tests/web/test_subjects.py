"""The inbox and the conversation page show the subject the ingest wrote, not "(no text)"."""

from __future__ import annotations

from sqlalchemy import Engine

from earful.conversations import repository as conversations_repo
from earful.db import transaction
from earful.pipeline.stages import SUBJECT_CHARS
from tests.web.world import add_conversation, build_world, client, login


def test_rows_and_titles_read_the_first_post(sqlite_engine: Engine) -> None:
    w = build_world(sqlite_engine)
    words = " ".join(["delayed"] * 40)
    text = f"Stuck at gate 12\n\nfor three hours,   {words}"
    with transaction(sqlite_engine) as s:
        conv = add_conversation(s, w.brand_a, 70, text, "zoe", minutes_ago=1)
        conversations_repo.refresh_states(s, [conv])
    c = client(sqlite_engine)
    login(c, "alice")
    inbox = c.get("/inbox").text
    page = c.get(f"/c/{conv}").text
    assert "(no text)" not in inbox
    row = inbox.split(f'href="/c/{conv}"><bdi>', 1)[1].split("</bdi>", 1)[0]
    assert row.startswith("Stuck at gate 12 for three hours, delayed delayed")
    assert row.endswith("…") and len(row) <= SUBJECT_CHARS
    assert f"<h1><bdi>{row}</bdi></h1>" in page
    for i in range(3):  # the world's own conversations, stored the same way
        assert f"<bdi>my flight {i} was late</bdi>" in inbox
