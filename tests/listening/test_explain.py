from __future__ import annotations

from earful.listening import explain
from tests.listening.helpers import post


def test_explain_lists_each_hit_with_its_span_in_the_original_text() -> None:
    text = "Love #FlySkyward! Skywörd lost my bag, ask @SkywardAir"
    got = explain(text, '(skyward~ OR @SkywardAir OR #FlySkyward) -"skyward view"')
    assert got.matched
    assert [(h.term, h.text, h.column) for h in got.hits] == [
        ("#FlySkyward", "#FlySkyward", 29),
        ("skyward~", "Skyward", 2),
        ("skyward~", "Skywörd", 2),
        ("@SkywardAir", "@SkywardAir", 14),
    ]
    for h in got.hits:
        assert text[h.start : h.end] == h.text


def test_explain_shows_the_hit_that_a_not_rejects() -> None:
    got = explain("what a skyward view", 'skyward NOT "skyward view"')
    assert not got.matched
    assert {h.term for h in got.hits} == {"skyward", '"skyward view"'}


def test_explain_reports_filters() -> None:
    got = explain(post("skyward again", repost_of="p0"), "skyward -is:repost")
    assert not got.matched
    assert [(f.filter, f.passed) for f in got.filters] == [("is:repost", True)]


def test_explain_spans_in_other_scripts() -> None:
    got = explain("我喜欢面包汤", "面包汤")
    assert got.matched
    assert [(h.start, h.end, h.text) for h in got.hits] == [(3, 6, "面包汤")]
