"""A fake matcher for stage tests: a brand's keywords as whole words, case-insensitive.

Production matching is the listening engine (``earful.listening``); this keeps the stage
tests independent of it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from earful.pipeline.schema import PostIn


class KeywordMatcher:
    def __init__(self, keywords: dict[int, list[str]]) -> None:
        self._patterns: list[tuple[int, re.Pattern[str]]] = []
        for brand_id, words in sorted(keywords.items()):
            cleaned = [re.escape(w.strip()) for w in words if w.strip()]
            if cleaned:
                pattern = re.compile(r"(?<!\w)(?:" + "|".join(cleaned) + r")(?!\w)", re.I)
                self._patterns.append((brand_id, pattern))

    def match(self, posts: Sequence[PostIn]) -> list[frozenset[int]]:
        return [
            frozenset(b for b, pattern in self._patterns if pattern.search(p.text)) for p in posts
        ]
