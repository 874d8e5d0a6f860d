from __future__ import annotations

import pytest

from earful.listening import QuerySyntaxError, parse
from earful.listening.query import And, Filter, Near, Not, Or, Proximity, Term, render


@pytest.mark.parametrize(
    ("query", "column", "fragment"),
    [
        ("", 1, "empty query"),
        ("skyward AND", 12, "query ends where a term was expected"),
        ("(skyward OR air", 1, "'(' is never closed"),
        ("skyward)", 8, "')' without a matching '('"),
        ('skyward "lost bag', 9, "unclosed quote"),
        ("skyward bogus:x", 9, "unknown field 'bogus'"),
        ("skyward is:retweet", 12, "is: takes repost, reply, quote"),
        ("skyward lang:english", 14, "not a language code"),
        ("skyward lang:", 14, "lang: needs a value"),
        ("skyward re*", 9, "at least 3 letters"),
        ("skyward ref*nd", 9, "only at the end of a word"),
        ("skyward sky~", 9, "at least 5 letters"),
        ("skyward refund*~", 9, "both a prefix"),
        ('skyward "late"~3', 9, "at least two words"),
        ('skyward "late flight"~', 22, "expected a number after ~"),
        ("skyward NEAR/x air", 9, "NEAR/n with a number"),
        ("skyward NEAR/99 air", 9, "more than 50"),
        ("a NEAR/2 b NEAR/2 c", 12, "cannot be chained"),
        ("(a OR b) NEAR/2 c", 10, "NEAR joins two words or phrases"),
        ("OR skyward", 1, "needs a term on its left"),
        ("skyward !!!", 9, "has no letters, digits or emoji"),
        ("skyward https://skyward.com", 9, "links are not searchable"),
        ("skyward[skyword", 8, "unclosed '['"),
        ("skyward [x]", 9, "unexpected '['"),
        ("skyward NOT", 9, "expected something to exclude"),
        ("skyward ()", 9, "empty parentheses"),
        # queries that would match (almost) everything
        ("NOT skyward", 1, "would match posts that contain none"),
        ("-is:repost", 1, "would match posts that contain none"),
        ("lang:en", 1, "would match posts that contain none"),
        ("skyward OR NOT pie", 12, "would match posts that contain none"),
        ("skyward OR (lang:en AND -is:reply)", 13, "would match posts that contain none"),
    ],
)
def test_errors_say_what_and_where(query: str, column: int, fragment: str) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse(query)
    assert info.value.column == column
    assert fragment in info.value.message
    assert str(info.value).startswith(f"column {column}: ")


def test_pointer_shows_the_column() -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse("skyward bogus:x")
    assert info.value.pointer("skyward bogus:x").splitlines()[1].startswith("        ^ unknown")


def test_precedence_near_then_not_then_and_then_or() -> None:
    root = parse("a OR b c NEAR/2 d -e").root
    assert isinstance(root, Or)
    left, right = root.children
    assert isinstance(left, Term) and left.tokens == ("a",)
    assert isinstance(right, And)
    b, near, neg = right.children
    assert isinstance(b, Term) and isinstance(near, Near) and near.distance == 2
    assert isinstance(neg, Not) and isinstance(neg.child, Term)


def test_lower_case_operators_are_words() -> None:
    root = parse("rock and roll").root
    assert isinstance(root, And)
    assert [c.tokens for c in root.children if isinstance(c, Term)] == [
        ("rock",),
        ("and",),
        ("roll",),
    ]


def test_terms_filters_and_variants() -> None:
    root = parse('skyward~[skywrd, "sky ward"] "late flight"~3 lang:pt-BR author:@Fan').root
    assert isinstance(root, And)
    term, prox, lang, author = root.children
    assert isinstance(term, Term) and term.fuzzy
    assert term.variants == (("skywrd",), ("sky", "ward"))
    assert isinstance(prox, Proximity) and prox.slop == 3
    assert lang == Filter("lang", "pt", 46)
    assert author == Filter("author", "fan", 57)


@pytest.mark.parametrize(
    "query",
    [
        '(skyward~[skywrd, "sky ward"] OR "skyward air" OR @skywardair) NOT "skyward view"',
        'refund* NEAR/3 "late flight" -is:repost lang:en',
        '"late flight delayed"~2 OR (#flyskyward AND network:bluesky)',
    ],
)
def test_render_parses_back_to_the_same_tree(query: str) -> None:
    tree = parse(query).root
    again = parse(render(tree)).root
    assert render(again) == render(tree)
