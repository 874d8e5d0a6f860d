"""The state row's copy of the status, and the index plan of the default inbox page."""

from __future__ import annotations

from sqlalchemy import Engine, select, update

from earful.conversations import repository as conversations_repo
from earful.db import transaction
from earful.inbox import repository as repo
from earful.models import Conversation, ConversationState
from earful.models.base import utcnow
from tests.web.world import build_world


def test_status_follows_the_conversation_whoever_writes_it(engine: Engine) -> None:
    w = build_world(engine)
    conv = w.convs_a[0]
    with engine.begin() as conn:  # as the pipeline does: plain SQL on conversations
        conn.execute(update(Conversation).where(Conversation.id == conv).values(status="resolved"))
    with engine.connect() as conn:
        got = conn.scalar(
            select(ConversationState.status).where(ConversationState.conversation_id == conv)
        )
    assert got == "resolved"
    with transaction(engine) as s:
        page = repo.inbox_page(s, repo.InboxQuery([w.brand_a], ["new", "open"]), utcnow())
        assert conv not in [r.id for r in page]
        resolved = repo.inbox_page(s, repo.InboxQuery([w.brand_a], ["resolved"]), utcnow())
        assert [r.id for r in resolved] == [conv]
        conversations_repo.refresh_states(s, [conv])  # a refresh keeps it too
        assert s.get(ConversationState, conv).status == "resolved"  # type: ignore[union-attr]


def test_default_page_reads_the_inbox_index_in_order(sqlite_engine: Engine) -> None:
    w = build_world(sqlite_engine)
    with transaction(sqlite_engine) as s:
        seen: list[tuple[object, ...]] = []
        stmt_text: list[str] = []

        from sqlalchemy import event

        def grab(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
            if "AS page" in statement:
                stmt_text.append(statement)
                seen.append(params)

        event.listen(sqlite_engine, "before_cursor_execute", grab)
        try:
            repo.inbox_page(s, repo.InboxQuery([w.brand_a], ["new", "open"]), utcnow())
        finally:
            event.remove(sqlite_engine, "before_cursor_execute", grab)
        rows = s.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + stmt_text[0], seen[0])
        plan = [(row[1], str(row[-1])) for row in rows]
    # The page's ids: a walk of the inbox index in key order, no sort, no table reads;
    # only the 50 chosen rows are sorted again (top level) after the joins.
    inner = [detail for parent, detail in plan if parent != 0]
    assert any("COVERING INDEX ix_conversation_states_inbox" in d for d in inner), plan
    assert not any("TEMP B-TREE" in d for d in inner), plan


def test_several_brands_page_in_priority_order_across_their_targets(engine: Engine) -> None:
    """A page of two brands' inboxes merges them by due time (the stored key, the same
    clock whatever each brand's target), the same as sorting every open conversation, on
    every page."""
    import random

    from earful.models import Brand

    w = build_world(engine, per_brand=30)
    rng = random.Random(4)
    now = utcnow()
    targets = {w.brand_a: 60, w.brand_b: 15}
    with engine.begin() as conn:
        for brand_id, minutes in targets.items():
            conn.execute(
                update(Brand).where(Brand.id == brand_id).values(target_response_minutes=minutes)
            )
        for conv in w.convs_a + w.convs_b:
            conn.execute(
                update(ConversationState)
                .where(ConversationState.conversation_id == conv)
                .values(priority_key=rng.uniform(-now.timestamp() - 7200, -now.timestamp()))
            )
        # Two ties on the key: the conversation id decides.
        tie = -now.timestamp() - 100
        for conv in (w.convs_a[1], w.convs_a[2]):
            conn.execute(
                update(ConversationState)
                .where(ConversationState.conversation_id == conv)
                .values(priority_key=tie)
            )
        conn.execute(
            update(Conversation).where(Conversation.id == w.convs_b[3]).values(status="resolved")
        )
        rows = conn.execute(
            select(
                ConversationState.conversation_id,
                ConversationState.brand_id,
                ConversationState.priority_key,
            ).where(ConversationState.status.in_(["new", "open"]))
        ).all()
    expected = [
        cid
        for _, cid in sorted(
            ((key, cid) for cid, _brand, key in rows),
            reverse=True,
        )
    ]
    assert len(expected) == 59
    with transaction(engine) as s:
        got: list[int] = []
        for offset in range(0, 63, 9):
            q = repo.InboxQuery([w.brand_b, w.brand_a], ["new", "open"], limit=9, offset=offset)
            got += [r.id for r in repo.inbox_page(s, q, now)]
        searched = repo.inbox_page(
            s, repo.InboxQuery([w.brand_a, w.brand_b], ["new", "open"], search="flight"), now
        )
    assert got == expected
    assert [r.id for r in searched] == [c for c in expected if c in w.convs_a]
