"""Matched terms in the conversation view come from the listening queries' explain."""

from __future__ import annotations

from sqlalchemy import Engine

from earful.conversations import repository as conversations_repo
from earful.db import transaction
from earful.inbox.service import merge_spans
from earful.models import ListeningQuery
from earful.web.render import highlight_spans
from tests.web.world import add_conversation, build_world, client, login


def test_merge_and_escape_spans() -> None:
    assert merge_spans([(5, 9), (0, 3), (2, 4), (9, 9)]) == [(0, 4), (5, 9)]
    text = "<b>late</b> & late"
    out = str(highlight_spans(text, [(3, 7), (14, 18)]))
    assert out == "&lt;b&gt;<mark>late</mark>&lt;/b&gt; &amp; <mark>late</mark>"
    assert str(highlight_spans("abc", [(1, 99), (0, 2)])) == "<mark>ab</mark><mark>c</mark>"


def test_conversation_marks_what_the_queries_matched(sqlite_engine: Engine) -> None:
    w = build_world(sqlite_engine)
    with transaction(sqlite_engine) as s:
        s.add(
            ListeningQuery(
                brand_id=w.brand_a, name="delays", query='"flight" AND (late OR delayed) NOT refund'
            )
        )
        conv = add_conversation(
            s, w.brand_a, 50, 'My Flight was <script>late</script>, "seat" onerror=', "zed"
        )
        other = add_conversation(s, w.brand_a, 51, "flight late but I want a refund", "amy")
        conversations_repo.refresh_states(s, [conv, other])
    c = client(sqlite_engine)
    login(c, "alice")
    page = c.get(f"/c/{conv}").text
    assert "My <mark>Flight</mark> was &lt;script&gt;<mark>late</mark>&lt;/script&gt;" in page
    assert "<script>late" not in page
    # The NOT stops the match: nothing is marked in a post the query does not match.
    assert "<mark>" not in c.get(f"/c/{other}").text.split('class="thread"')[1].split("</ol>")[0]
