"""The compiled matcher and the reference interpreter agree on random queries and posts."""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from earful.listening import CompiledMatcher, QuerySyntaxError, parse
from earful.listening.query import Query
from earful.listening.reference import matches as reference_matches
from earful.pipeline.schema import PostIn
from tests.listening.helpers import post

WORDS = [
    "sky", "skyward", "skyword", "air", "late", "flight", "refund", "refunds",
    "café", "cafe", "#flyskyward", "@skywardair", "星", "巴", "🎉", "pie", "apple",
]  # fmt: skip
TEXT_WORDS = [
    *WORDS, "skywrd", "ward", "flights", "#FlySkyward", "Skyward's", "refunded", "✈️",
    "SKYWARD", "skywward", "kyward", "星巴", "Pie", "@SkywardAir", "https://skyward.com",
]  # fmt: skip
SEPARATORS = [" ", "  ", ", ", "! ", " #", "-", "", " @", "\n"]

words = st.sampled_from(WORDS)
plain = st.sampled_from(["sky", "skyward", "air", "late", "flight", "refund", "cafe", "pie"])

term = st.one_of(
    words,
    st.sampled_from(["sky*", "ref*", "fli*", "caf*", "skyward~", "flight~"]),
    st.just('skyward[skywrd, "sky ward"]'),
    st.just('refund~["money back"]'),
    st.lists(plain, min_size=1, max_size=3).map(lambda ws: '"' + " ".join(ws) + '"'),
)
positional = st.one_of(
    st.builds(lambda a, n, b: f"{a} NEAR/{n} {b}", term, st.integers(0, 3), term),
    st.builds(
        lambda ws, n: '"' + " ".join(ws) + f'"~{n}',
        st.lists(plain, min_size=2, max_size=3),
        st.integers(0, 3),
    ),
)
field = st.sampled_from(
    ["lang:en", "is:repost", "is:reply", "is:quote", "network:bluesky", "author:@fan"]
)
leaf = st.one_of(term, term, positional, field)


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.lists(children, min_size=2, max_size=3).map(lambda cs: "(" + " AND ".join(cs) + ")"),
        st.lists(children, min_size=2, max_size=3).map(lambda cs: "(" + " OR ".join(cs) + ")"),
        st.lists(children, min_size=2, max_size=3).map(lambda cs: "(" + " ".join(cs) + ")"),
        children.map(lambda c: f"NOT {c}"),
        children.map(lambda c: f"-{c}"),
    )


query_text = st.recursive(leaf, _combine, max_leaves=6)


@st.composite
def queries(draw: st.DrawFn) -> Query:
    text = draw(query_text)
    try:
        return parse(text)
    except QuerySyntaxError:
        assume(False)
        raise


@st.composite
def posts(draw: st.DrawFn) -> PostIn:
    # Half the words come from the few that queries use most, so that proximity and
    # NEAR windows are often just met or just missed.
    parts = draw(st.lists(st.one_of(st.sampled_from(TEXT_WORDS), plain), max_size=10))
    text = ""
    for part in parts:
        text += draw(st.sampled_from(SEPARATORS)) + part
    maybe = st.sampled_from([None, "p0"])
    return post(
        text,
        language=draw(st.sampled_from([None, "en", "en-GB", "fr"])),
        network=draw(st.sampled_from(["bluesky", "x"])),
        author_handle=draw(st.sampled_from([None, "fan", "Other"])),
        repost_of=draw(maybe),
        reply_to=draw(maybe),
        quote_of=draw(maybe),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    st.lists(st.tuples(queries(), st.integers(1, 3)), min_size=1, max_size=4),
    st.lists(posts(), min_size=1, max_size=4),
)
def test_compiled_matcher_agrees_with_reference(
    brand_queries: list[tuple[Query, int]], batch: list[PostIn]
) -> None:
    matcher = CompiledMatcher((i, brand, q) for i, (q, brand) in enumerate(brand_queries))
    got = matcher.match(batch)
    for p, brands in zip(batch, got, strict=True):
        expected = {brand for q, brand in brand_queries if reference_matches(q, p)}
        assert brands == expected, (p.text, [q.text for q, _ in brand_queries])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(queries(), posts())
def test_each_query_agrees_with_reference(query: Query, p: PostIn) -> None:
    matcher = CompiledMatcher([("q", 1, query)])
    assert bool(matcher.match([p])[0]) == reference_matches(query, p), (query.text, p.text)
