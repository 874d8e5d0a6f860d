from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from earful.listening.normalize import (
    URL_MASK,
    hashtag_words,
    normalize,
    normalize_many,
    token_spans,
    tokens,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Skyward AIR!!", ["skyward", "air"]),
        ("Café Müller, ŁÓDŹ, Straße", ["cafe", "muller", "lodz", "strasse"]),
        ("ＳＫＹＷＡＲＤ Skyward™", ["skyward", "skyward"]),
        ("don't", ["don", "t"]),
        ("bob@skyward.com", ["bob@skyward", "com"]),
        (".@SkywardAir help", ["@skywardair", "help"]),
        ("#FlySkyward", ["#flyskyward", "fly", "skyward"]),
        ("#skyward", ["#skyward", "skyward"]),
        ("#HTTPServer2", ["#httpserver2", "http", "server", "2"]),
        ("#ÜberFlug", ["#uberflug", "uber", "flug"]),
        ("great🎉👍🏽", ["great", "🎉", "👍"]),
        ("我爱星巴克", ["我", "爱", "星", "巴", "克"]),
        ("ΚΑΛΗΜΈΡΑ σας", ["καλημερα", "σασ"]),
        ("нет, Скайвард", ["нет", "скаивард"]),
        ("see https://skyward.com/deals now", ["see", URL_MASK, "now"]),
        ("", []),
    ],
)
def test_tokens(text: str, expected: list[str]) -> None:
    assert tokens(text) == expected


def test_stream_has_single_spaces_and_space_at_each_end() -> None:
    assert normalize("  Hello,   World ") == " hello world "
    assert normalize("...") == " "


def test_query_terms_keep_hashtags_whole() -> None:
    assert normalize("#FlySkyward", hashtags=False) == " #flyskyward "


def test_hashtag_words_split_on_case_digits_and_underscores() -> None:
    assert hashtag_words("LoafAndLadle") == ("Loaf", "And", "Ladle")
    assert hashtag_words("fly_skyward") == ("fly", "skyward")
    assert hashtag_words("loafandladle") == ("loafandladle",)


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=60))
def test_ascii_fast_path_agrees_with_unicode_path(text: str) -> None:
    # A no-break space sends the text down the Unicode path and is itself a separator.
    assert normalize(text) == normalize(text + "\u00a0")
    assert normalize(text, hashtags=False) == normalize(text + "\u00a0", hashtags=False)


def test_token_spans_point_into_the_original_text() -> None:
    text = "Love #FlySkyward! Café, ask @SkywardAir 🎉"
    spans = token_spans(text)
    assert [text[a:b] for a, b in spans] == [
        "Love",
        "#FlySkyward",
        "Fly",
        "Skyward",
        "Café",
        "ask",
        "@SkywardAir",
        "🎉",
    ]


SIMPLE = "abc XYZ 12 #Tag @me ://www. _'’“”…–—«»\ufe0f😡👍🏽✈🎉⌚"


@given(st.text(alphabet=st.sampled_from(SIMPLE), max_size=40))
def test_emoji_fast_path_agrees_with_full_unicode_path(text: str) -> None:
    # An accented letter sends the text down the full path and adds one token, "e".
    base = normalize(text)
    assert normalize(text + " é") == (base + "e " if base != " " else " e ")


def test_a_skin_tone_after_the_hash_is_dropped_on_both_paths() -> None:
    # Found by Hypothesis: the full path parsed hashtags before dropping emoji noise.
    assert normalize("#🏽1") == " #1 1 "
    assert normalize("#🏽1 é") == " #1 1 e "


MANY = [
    "Skyward AIR!! see https://skyward.com/deals now",
    "#FlySkyward is late again @SkywardHQ",
    "",
    "   ",
    "great🎉👍🏽 #ÜberFlug",  # not ASCII: the one-by-one path, kept in its place
    "www.skyward.com and WWW.SKYWARD.COM",
    "a\x00b",  # the joiner inside a text
    "c\x01d https://x.y/z",  # the URL stand-in inside a text
    "don't #HTTPServer2",
]


@pytest.mark.parametrize("start", range(len(MANY)))
def test_normalize_many_equals_normalize_one_by_one(start: int) -> None:
    texts = MANY[start:] + MANY[:start]
    assert normalize_many(texts) == [normalize(t) for t in texts]
    assert normalize_many(texts[:1]) == [normalize(texts[0])]
    assert normalize_many([]) == []


@given(st.lists(st.text(alphabet=st.sampled_from(list("ab #@:/.w\x00\x01é🎉")), max_size=12)))
def test_normalize_many_equals_normalize_on_any_texts(texts: list[str]) -> None:
    assert normalize_many(texts) == [normalize(t) for t in texts]
