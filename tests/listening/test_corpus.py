"""Tricky cases with the expected answer: what a brand wants to hear, and what it does not."""

from __future__ import annotations

import pytest

from earful.listening import CompiledMatcher, parse
from tests.listening.helpers import matches, post

SKYWARD = (
    '(skyward~[skywrd, "sky ward"] OR "skyward air" OR @SkywardAir OR #FlySkyward) '
    'NOT ("skyward view" OR "skyward glance")'
)
APPLE = '(apple OR iphone OR @apple) NOT (pie OR juice OR cider OR "big apple")'
LOAF = '("loaf & ladle" OR "loaf and ladle" OR #LoafAndLadle OR 面包汤)'

CASES = [
    # brand name, case and accents do not matter
    (SKYWARD, "SKYWARD lost my bag", True),
    (SKYWARD, "Skywärd lost my bag", True),
    (SKYWARD, "ｓｋｙｗａｒｄ fullwidth", True),
    # misspellings: automatic typos and named variants
    (SKYWARD, "skyword air lost my bag", True),
    (SKYWARD, "flew skywrad yesterday", True),
    (SKYWARD, "skywrd again", True),
    (SKYWARD, "sky ward is late", True),
    (SKYWARD, "skyline is pretty", False),
    # false friends
    (SKYWARD, "what a skyward view from the hill", False),
    (SKYWARD, "a skyward glance", False),
    (APPLE, "apple pie recipe", False),
    (APPLE, "my new iphone will not charge", True),
    (APPLE, "apple support never answers", True),
    (APPLE, "greetings from the big apple", False),
    # substrings inside other words never match
    (APPLE, "pineapple smoothie", False),
    (APPLE, "applesauce", False),
    (SKYWARD, "skywardly", False),
    ("refund*", "I want my refunds", True),
    ("refund*", "nonrefundable ticket", False),
    # handles and hashtags
    (SKYWARD, "thanks @SkywardAir!", True),
    (SKYWARD, "email me at bob@skywardair.com", False),
    (SKYWARD, "#FlySkyward all the way", True),
    (SKYWARD, "#flyskyward lower case", True),
    ("#FlySkyward", "fly skyward", False),
    ("skyward", "#SkywardRocks", True),
    ("skyward", "#skywardrocks", False),
    (LOAF, "#LoafAndLadle brunch", True),
    (LOAF, "Loaf & Ladle soup was cold", True),
    (LOAF, "loaf and ladle", True),
    (LOAF, "a loaf, a ladle", False),
    # emoji
    ("skyward AND ✈️", "skyward ✈ again", True),
    ("skyward AND 👍", "skyward 👍🏽", True),
    ("skyward AND 👍", "skyward 👎", False),
    # other scripts
    (LOAF, "我喜欢面包汤", True),
    (LOAF, "面包很好", False),
    ("скайвард", "Скайвард потерял багаж", True),
    ("καφέ", "ΚΑΦΕ σήμερα", True),
    ("मुंबई", "मुंबई में बारिश", True),
    # URLs are never matched inside
    ("skyward", "read https://skyward.com/deals", False),
    ("skyward", "read www.skyward.com", False),
    ("skyward", "skyward.com is down", True),
    # proximity
    ('"late flight"~2', "the flight was very late", True),
    ('"late flight"~1', "the flight was very late", False),
    ("late NEAR/0 flight", "late flight", True),
    ("late NEAR/0 flight", "late, delayed flight", False),
    ("late NEAR/1 flight", "flight really late", True),
]


@pytest.mark.parametrize(("query", "text", "expected"), CASES)
def test_corpus(query: str, text: str, expected: bool) -> None:
    assert matches(query, text) is expected


@pytest.mark.parametrize(
    ("query", "fields", "expected"),
    [
        ("skyward lang:en", {"language": "en-US"}, True),
        ("skyward lang:en", {"language": "fr"}, False),
        ("skyward lang:en", {}, False),
        ("skyward -lang:en", {}, True),
        ("skyward network:bluesky", {"network": "bluesky"}, True),
        ("skyward network:bluesky", {"network": "mastodon"}, False),
        ("skyward author:@SkyFan", {"author_handle": "skyfan"}, True),
        ("skyward author:@SkyFan", {"author_handle": "other"}, False),
        ("skyward -is:repost", {"repost_of": "p0"}, False),
        ("skyward -is:repost", {}, True),
        ("skyward is:reply", {"reply_to": "p0"}, True),
        ("skyward NOT is:quote", {"quote_of": "p0"}, False),
    ],
)
def test_field_filters(query: str, fields: dict[str, str], expected: bool) -> None:
    assert matches(query, "skyward is late", **fields) is expected


def test_a_post_matching_several_brands_gets_all_of_them() -> None:
    matcher = CompiledMatcher(
        [
            ("s", 1, parse(SKYWARD)),
            ("a", 2, parse(APPLE)),
            ("a2", 2, parse("macbook AND broken")),
            ("l", 3, parse(LOAF)),
        ]
    )
    got = matcher.match(
        [
            post("my iphone died on the skyward flight"),
            post("apple pie on skyward"),
            post("broken macbook"),
            post("nothing here"),
        ]
    )
    assert got == [frozenset({1, 2}), frozenset({1}), frozenset({2}), frozenset()]
