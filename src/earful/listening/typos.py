"""Automatic misspellings of a word: the typos people actually make, each one edit away.

A typo of ``word`` is: one letter dropped, two neighbours swapped, one letter doubled, or
one letter replaced by a key next to it on a QWERTY keyboard or a vowel by another vowel
("skyword"). That is a subset of edit distance 1 small enough (about 10 per letter) to
compile for thousands of brands.
"""

from __future__ import annotations

from functools import lru_cache

_VOWELS = "aeiouy"
_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")


def _neighbours() -> dict[str, str]:
    near: dict[str, set[str]] = {}
    for r, row in enumerate(_ROWS):
        for c, key in enumerate(row):
            found = near.setdefault(key, set())
            for dr in (-1, 0, 1):
                if not 0 <= r + dr < len(_ROWS):
                    continue
                other = _ROWS[r + dr]
                for dc in (-1, 0, 1) if dr == 0 else (0, 1) if dr < 0 else (-1, 0):
                    if (dr, dc) != (0, 0) and 0 <= c + dc < len(other):
                        found.add(other[c + dc])
    for vowel in _VOWELS:
        near[vowel] |= set(_VOWELS) - {vowel}
    return {k: "".join(sorted(v)) for k, v in near.items()}


NEIGHBOURS = _neighbours()


@lru_cache(maxsize=8192)
def typo_variants(word: str) -> frozenset[str]:
    """Every typo of ``word`` (not the word itself)."""
    out: set[str] = set()
    for i in range(len(word)):
        out.add(word[:i] + word[i + 1 :])  # dropped
        out.add(word[: i + 1] + word[i:])  # doubled
        if i + 1 < len(word):
            out.add(word[:i] + word[i + 1] + word[i] + word[i + 2 :])  # swapped
        for key in NEIGHBOURS.get(word[i], ""):
            out.add(word[:i] + key + word[i + 1 :])  # fat finger
    out.discard(word)
    out.discard("")
    return frozenset(out)


def is_typo(token: str, word: str) -> bool:
    """Whether ``token`` is one of :func:`typo_variants` of ``word``, decided directly."""
    if token == word:
        return False
    if len(token) == len(word) - 1:
        return any(word[:i] + word[i + 1 :] == token for i in range(len(word)))
    if len(token) == len(word) + 1:
        return any(
            token[:i] + token[i + 1 :] == word and i > 0 and token[i] == token[i - 1]
            for i in range(len(token))
        )
    if len(token) != len(word):
        return False
    diff = [i for i in range(len(word)) if token[i] != word[i]]
    if len(diff) == 1:
        return token[diff[0]] in NEIGHBOURS.get(word[diff[0]], "")
    return (
        len(diff) == 2
        and diff[1] == diff[0] + 1
        and token[diff[0]] == word[diff[1]]
        and token[diff[1]] == word[diff[0]]
    )
