"""The pure stages, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from earful.models.conversation import ConversationStatus
from earful.pipeline import stages
from earful.pipeline.schema import EMPTY_LABELS, Classified, PostIn
from earful.pipeline.stages import BrandAccounts, ThreadIndex
from tests.pipeline.fake_matcher import KeywordMatcher

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def post(
    ext: str, author: str = "ann", text: str = "hi", reply_to: str | None = None, minutes: int = 0
) -> PostIn:
    return PostIn("x", ext, author, text, T0 + timedelta(minutes=minutes), reply_to=reply_to)


def labeled(p: PostIn, brands: set[int], own: set[int] | None = None) -> Classified:
    return Classified(p, frozenset(brands), frozenset(own or ()), EMPTY_LABELS)


def test_normalize_cleans_text_and_rejects_broken_posts() -> None:
    good = PostIn(
        "x", "1", "ann", "cafe\u0301\u200b ok\x00", datetime(2026, 1, 1), author_handle="@Ann"
    )
    no_id = PostIn("x", " ", "ann", "t", T0)
    huge = PostIn("x", "3", "ann", "a" * (stages.MAX_TEXT_CHARS + 1), T0)
    posts, rejected = stages.normalize([good, no_id, huge])
    assert [p.external_id for p in posts] == ["1"]
    assert posts[0].text == "café ok "
    assert posts[0].created_at.tzinfo is UTC
    assert posts[0].author_handle == "Ann"
    assert [r.reason for r in rejected] == [
        "missing post id",
        f"text longer than {stages.MAX_TEXT_CHARS} characters ({stages.MAX_TEXT_CHARS + 1})",
    ]


def test_match_uses_keywords_accounts_and_bound_source() -> None:
    matcher = KeywordMatcher({1: ["Acme"], 2: ["Globex"]})
    accounts = BrandAccounts({("x", "acmehelp"): 1})
    posts = [
        post("1", text="acme broke my toaster"),
        post("2", text="acmeville is lovely"),  # not a whole word
        post("3", author="AcmeHelp", text="sorry to hear that"),
        post("4", text="nothing here"),
    ]
    got = stages.match(posts, matcher, accounts)
    assert [m.brand_ids for m in got] == [{1}, set(), {1}, set()]
    assert got[2].own_brand_ids == {1}
    bound = stages.match(posts, matcher, accounts, source_brand=2)
    assert [m.brand_ids for m in bound] == [{1, 2}, {2}, {1, 2}, {2}]


def test_follow_threads_gives_replies_and_late_parents_the_thread_brands() -> None:
    batch = stages.match(
        [
            post("r1", text="still broken", reply_to="p"),
            post("p", text="acme is down"),
            post("r2", text="+1", reply_to="r1"),
            post("z", text="unrelated"),
        ],
        KeywordMatcher({7: ["acme"]}),
        BrandAccounts(),
    )
    followed = stages.follow_threads(batch, ThreadIndex())
    assert [m.brand_ids for m in followed] == [{7}, {7}, {7}, set()]


def test_reply_joins_parent_conversation_even_when_parent_arrives_later() -> None:
    # The reply comes first and opens a conversation; its parent then joins it.
    child = labeled(post("c", author="bob", reply_to="p", minutes=5), {1})
    parent = labeled(post("p", author="ann"), {1})
    plan = stages.thread([child, parent], ThreadIndex())
    assert len(plan.new_conversations) == 1
    assert {conv for _, conv in plan.members} == {plan.new_conversations[0].key}


def test_stored_children_pull_a_late_parent_into_their_conversation() -> None:
    parent = labeled(post("p"), {1})
    index = ThreadIndex(child_convs={("x", "p"): [(1, 42)]}, statuses={42: ConversationStatus.OPEN})
    plan = stages.thread([parent], index)
    assert plan.new_conversations == []
    assert plan.members == [(("x", "p"), 42)]


def test_two_threads_bridged_by_a_post_merge_into_the_older() -> None:
    # Stored conversations 10 (holds the grandparent) and 20 (holds a child of "mid");
    # "mid" replies to the grandparent and is the parent of the child: one thread.
    mid = labeled(post("mid", reply_to="gp"), {1})
    index = ThreadIndex(
        parent_convs={("x", "gp"): {1: 10}},
        child_convs={("x", "mid"): [(1, 20)]},
        statuses={10: ConversationStatus.OPEN, 20: ConversationStatus.NEW},
    )
    plan = stages.thread([mid], index)
    assert plan.merges == [(20, 10)]
    assert plan.members == [(("x", "mid"), 10)]


def test_customer_new_post_joins_their_open_conversation() -> None:
    index = ThreadIndex(open_convs={(1, "x", "ann"): 5}, statuses={5: ConversationStatus.OPEN})
    plan = stages.thread([labeled(post("n", text="any update?"), {1})], index)
    assert plan.members == [(("x", "n"), 5)]
    other_customer = stages.thread([labeled(post("m", author="bob"), {1})], index)
    assert len(other_customer.new_conversations) == 1


def test_brand_posts_start_nothing_and_put_the_thread_in_waiting() -> None:
    ask = labeled(post("q", author="ann"), {1})
    answer = labeled(post("a", author="acme", reply_to="q", minutes=1), {1}, own={1})
    alone = labeled(post("promo", author="acme"), {1}, own={1})
    plan = stages.thread([ask, answer, alone], ThreadIndex())
    assert len(plan.new_conversations) == 1
    conv = plan.new_conversations[0].key
    assert plan.members == [(("x", "q"), conv), (("x", "a"), conv)]
    routing = stages.route([ask, answer, alone], plan, ThreadIndex(), {conv: 1})
    assert routing.statuses[conv] is ConversationStatus.WAITING


def test_customer_writing_again_reopens_a_resolved_thread() -> None:
    index = ThreadIndex(
        parent_convs={("x", "old"): {1: 9}}, statuses={9: ConversationStatus.RESOLVED}
    )
    again = labeled(post("again", reply_to="old"), {1})
    plan = stages.thread([again], index)
    routing = stages.route([again], plan, index, {9: 1})
    assert routing.statuses == {9: ConversationStatus.OPEN}
