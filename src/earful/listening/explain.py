"""Why a query matches a post: which terms hit where, for highlighting in the inbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from earful.listening.compiler import CompiledMatcher
from earful.listening.normalize import normalize, token_spans
from earful.listening.parser import parse
from earful.listening.query import Filter, Node, Query, terms_of
from earful.listening.reference import evaluate
from earful.pipeline.schema import PostIn


@dataclass(frozen=True, slots=True)
class TermHit:
    """One occurrence of a query term: ``start:end`` is a character span of the post."""

    term: str
    column: int  # where the term is written in the query
    start: int
    end: int
    text: str  # the post's own characters there


@dataclass(frozen=True, slots=True)
class FilterCheck:
    filter: str
    column: int
    passed: bool


@dataclass(frozen=True, slots=True)
class Explanation:
    matched: bool
    hits: tuple[TermHit, ...]
    filters: tuple[FilterCheck, ...]


def explain(post: PostIn | str, query: Query | str) -> Explanation:
    """Whether ``query`` matches ``post`` and every occurrence of its terms.

    A hit under a NOT is listed too: it is what stopped the match.
    """
    if isinstance(post, str):
        post = text_post(post)
    if isinstance(query, str):
        query = parse(query)
    matcher = CompiledMatcher([("q", 1, query)])
    matched = bool(matcher.match([post])[0])
    text = normalize(post.text)
    spans = token_spans(post.text)
    found: dict[tuple[int, int, int], None] = {}
    for p, start, _ in matcher.find(text):
        first = text.count(" ", 0, start + 1) - 1
        last = first + matcher.widths[p] - 1
        for lit in matcher.pattern_literals[p]:
            found[(lit, first, last)] = None
    hits: list[TermHit] = []
    for lit, first, last in found:
        for written in terms_of(query.root):
            if matcher.literal(written) != lit:
                continue
            start, end = spans[first][0], spans[last][1]
            hits.append(TermHit(written.text, written.column, start, end, post.text[start:end]))
    hits.sort(key=lambda h: (h.start, h.column))
    filters = tuple(
        FilterCheck(f"{f.field}:{f.value}", f.column, evaluate(f, post, []))
        for f in _filters(query.root)
    )
    return Explanation(matched=matched, hits=tuple(dict.fromkeys(hits)), filters=filters)


def text_post(text: str, **fields: str | None) -> PostIn:
    """A post with only text (and any given fields), for trying a query out."""
    return PostIn(
        network=fields.pop("network", None) or "test",
        external_id="explain",
        author_id=fields.pop("author_id", None) or "someone",
        text=text,
        created_at=datetime.now(UTC),
        **fields,  # type: ignore[arg-type]
    )


def _filters(node: Node) -> list[Filter]:
    if isinstance(node, Filter):
        return [node]
    children = getattr(node, "children", None)
    if children is not None:
        return [f for c in children for f in _filters(c)]
    child = getattr(node, "child", None)
    return _filters(child) if child is not None else []
