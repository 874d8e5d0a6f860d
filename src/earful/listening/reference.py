"""A slow, obviously-correct interpreter of the query language, to check the compiler.

It walks the tree over the post's token list directly: no automaton, no triggers, no
shared literals. Property tests assert that it and :class:`CompiledMatcher` agree.
"""

from __future__ import annotations

import itertools

from earful.listening.compiler import post_authors, post_language
from earful.listening.normalize import tokens
from earful.listening.query import And, Filter, Near, Node, Not, Or, Proximity, Query, Term
from earful.listening.typos import is_typo
from earful.pipeline.schema import PostIn


def matches(query: Query, post: PostIn) -> bool:
    return evaluate(query.root, post, tokens(post.text))


def occurrences(term: Term, words: list[str]) -> list[tuple[int, int]]:
    """Token spans (first, last) where the term occurs."""
    spellings = [term.tokens, *term.variants]
    out: set[tuple[int, int]] = set()
    for i in range(len(words)):
        for spelling in spellings:
            n = len(spelling)
            window = words[i : i + n]
            if len(window) < n:
                continue
            if spelling is term.tokens and term.prefix:
                same = window[:-1] == list(spelling[:-1]) and window[-1].startswith(spelling[-1])
            else:
                same = window == list(spelling)
            if same:
                out.add((i, i + n - 1))
        if term.fuzzy and is_typo(words[i], term.tokens[0]):
            out.add((i, i))
    return sorted(out)


def evaluate(node: Node, post: PostIn, words: list[str]) -> bool:
    if isinstance(node, Term):
        return bool(occurrences(node, words))
    if isinstance(node, Near):
        return any(
            _gap(a, b) is not None and _gap(a, b) <= node.distance  # type: ignore[operator]
            for a in occurrences(node.left, words)
            for b in occurrences(node.right, words)
        )
    if isinstance(node, Proximity):
        spots = [[first for first, _ in occurrences(w, words)] for w in node.words]
        width = len(node.words) - 1 + node.slop
        return any(
            len(set(choice)) == len(choice) and max(choice) - min(choice) <= width
            for choice in itertools.product(*spots)
        )
    if isinstance(node, Filter):
        return _filter(node, post)
    if isinstance(node, Not):
        return not evaluate(node.child, post, words)
    if isinstance(node, And):
        return all(evaluate(c, post, words) for c in node.children)
    assert isinstance(node, Or)
    return any(evaluate(c, post, words) for c in node.children)


def _gap(a: tuple[int, int], b: tuple[int, int]) -> int | None:
    if a[1] < b[0]:
        return b[0] - a[1] - 1
    if b[1] < a[0]:
        return a[0] - b[1] - 1
    return None


def _filter(node: Filter, post: PostIn) -> bool:
    if node.field == "lang":
        return post_language(post) == node.value
    if node.field == "network":
        return post.network.lower() == node.value
    if node.field == "author":
        return node.value in post_authors(post)
    return {
        "repost": post.repost_of,
        "reply": post.reply_to,
        "quote": post.quote_of,
    }[node.value] not in (None, "")
