"""All queries of all brands compiled into one Aho–Corasick automaton plus boolean checks.

Each distinct term becomes a *literal* with one or more patterns over the normalized
token stream (``" late flight "``, ``" refund"`` for ``refund*``, one per variant). One
overlapping Aho–Corasick pass per post finds every literal that occurs. A query is
only looked at when one of its *trigger* literals occurs — a set of literals at least
one of which every matching post must contain (the parser refuses queries without one) —
so a post costs the same with 100 or 100,000 queries. Queries that are plain ORs of terms
need no evaluation at all: their brands hang directly off the patterns.
"""

from __future__ import annotations

import gc
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import accumulate

import ahocorasick_rs

from earful.listening.normalize import normalize_many
from earful.listening.query import And, Filter, Near, Node, Not, Or, Proximity, Query, Term
from earful.listening.typos import typo_variants
from earful.pipeline.schema import PostIn

EMPTY: frozenset[int] = frozenset()
# Posts per automaton call: big enough to amortize the call, small enough that a huge
# batch does not hold every normalized text and hit list in memory at once.
CHUNK = 2048
Span = tuple[int, int]  # first and last token index, inclusive


class Positions:
    """Token spans of each literal in one post, worked out only if a query asks."""

    __slots__ = ("_by_literal", "_found", "_matcher", "_text")

    def __init__(self, matcher: CompiledMatcher, text: str, found: list[tuple[int, int, int]]):
        self._matcher = matcher
        self._text = text
        self._found = found
        self._by_literal: dict[int, list[Span]] | None = None

    def of(self, literal: int) -> list[Span]:
        if self._by_literal is None:
            by: dict[int, list[Span]] = {}
            text, lits, widths = self._text, self._matcher.pattern_literals, self._matcher.widths
            for pattern, start, _ in self._found:
                first = text.count(" ", 0, start + 1) - 1
                span = (first, first + widths[pattern] - 1)
                for lit in lits[pattern]:
                    by.setdefault(lit, []).append(span)
            self._by_literal = by
        return self._by_literal.get(literal, [])


Check = Callable[[set[int], PostIn, Positions], bool]


@contextmanager
def paused_gc() -> Iterator[None]:
    """Building allocates millions of small objects and frees none: the cyclic collector
    would rescan the growing heap again and again for nothing."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def pattern(tokens: Sequence[str], prefix: bool = False) -> str:
    return " " + " ".join(tokens) + ("" if prefix else " ")


def term_patterns(term: Term) -> list[str]:
    """Every pattern that counts as an occurrence of the term."""
    out = [pattern(term.tokens, term.prefix)]
    out += [pattern(v) for v in term.variants]
    if term.fuzzy:
        out += [pattern((t,)) for t in sorted(typo_variants(term.tokens[0]))]
    return list(dict.fromkeys(out))


@dataclass(frozen=True, slots=True)
class _Compiled:
    key: Hashable
    brand_id: int
    check: Check


class CompiledMatcher:
    """Matches posts against many queries at once; immutable once built."""

    def __init__(self, queries: Iterable[tuple[Hashable, int, Query]]) -> None:
        with paused_gc():
            self._build(queries)

    def _build(self, queries: Iterable[tuple[Hashable, int, Query]]) -> None:
        self._literal_ids: dict[tuple[object, ...], int] = {}
        self._literal_cost: list[float] = []
        self.literal_terms: list[Term] = []
        self._pattern_ids: dict[str, int] = {}
        lits_of_pattern: list[list[int]] = []
        self.widths: list[int] = []
        self._lit_patterns: list[list[int]] = []
        self._lits_of_pattern = lits_of_pattern
        self.queries: list[_Compiled] = []
        direct: dict[int, set[int]] = {}
        triggered: dict[int, list[int]] = {}

        for key, brand_id, query in queries:
            root = query.root
            if _plain_or(root):
                for lit in self._anchor(root) or ():
                    for p in self._lit_patterns[lit]:
                        direct.setdefault(p, set()).add(brand_id)
                continue
            index = len(self.queries)
            self.queries.append(_Compiled(key, brand_id, self._check(root)))
            for lit in self._anchor(root) or ():
                for p in self._lit_patterns[lit]:
                    triggered.setdefault(p, []).append(index)

        n = len(self._pattern_ids)
        self.pattern_literals: list[tuple[int, ...]] = [tuple(x) for x in lits_of_pattern]
        self.direct: list[frozenset[int] | None] = [None] * n
        shared: dict[frozenset[int], frozenset[int]] = {}
        for p, brands in direct.items():
            key = frozenset(brands)
            self.direct[p] = shared.setdefault(key, key)  # a brand's many typos share one
        self.triggers: list[tuple[int, ...] | None] = [None] * n
        for p, idx in triggered.items():
            self.triggers[p] = tuple(dict.fromkeys(idx))
        patterns = list(self._pattern_ids)
        self.pattern_count = n
        self._automaton = ahocorasick_rs.AhoCorasick(patterns, store_patterns=False) if n else None
        # Only needed while building; keep memory for the automaton.
        del self._pattern_ids
        self._lits_of_pattern = []

    # ------------------------------------------------------------ matching

    def match(self, posts: Sequence[PostIn]) -> list[frozenset[int]]:
        """The brands each post concerns."""
        if len(posts) <= CHUNK:
            return self._match_chunk(posts)
        out: list[frozenset[int]] = []
        for start in range(0, len(posts), CHUNK):
            out += self._match_chunk(posts[start : start + CHUNK])
        return out

    def _match_chunk(self, posts: Sequence[PostIn]) -> list[frozenset[int]]:
        automaton = self._automaton
        if automaton is None or not posts:
            return [EMPTY] * len(posts)
        # One automaton call for the whole batch: every stream starts and ends with a
        # space and no pattern holds two spaces in a row, so no match spans two posts.
        texts = normalize_many([post.text for post in posts])
        found = automaton.find_matches_as_indexes("".join(texts), overlapping=True)
        out = [EMPTY] * len(posts)
        if not found:
            return out
        ends = list(accumulate(map(len, texts)))
        by_post: dict[int, list[tuple[int, int, int]]] = {}
        for hit in found:
            by_post.setdefault(bisect_right(ends, hit[1]), []).append(hit)
        direct, triggers = self.direct, self.triggers
        for i, hits in by_post.items():
            brands: set[int] = set()
            candidates: set[int] = set()
            for p in {h[0] for h in hits}:
                d = direct[p]
                if d is not None:
                    brands.update(d)
                t = triggers[p]
                if t is not None:
                    candidates.update(t)
            if candidates:
                offset = ends[i] - len(texts[i])
                local = [(p, a - offset, b - offset) for p, a, b in hits]
                self._evaluate(posts[i], texts[i], local, candidates, brands)
            if brands:
                out[i] = frozenset(brands)
        return out

    def _evaluate(
        self,
        post: PostIn,
        text: str,
        found: list[tuple[int, int, int]],
        candidates: set[int],
        brands: set[int],
    ) -> None:
        hits: set[int] = set()
        lits = self.pattern_literals
        for p in {m[0] for m in found}:
            hits.update(lits[p])
        positions = Positions(self, text, found)
        queries = self.queries
        for index in candidates:
            q = queries[index]
            if q.brand_id not in brands and q.check(hits, post, positions):
                brands.add(q.brand_id)

    def find(self, text: str) -> list[tuple[int, int, int]]:
        """Raw (pattern, start, end) hits in a normalized text."""
        if self._automaton is None:
            return []
        return self._automaton.find_matches_as_indexes(text, overlapping=True)

    # ------------------------------------------------------------ building

    def literal(self, term: Term) -> int:
        key = (term.tokens, term.prefix, term.variants, term.fuzzy)
        lit = self._literal_ids.get(key)
        if lit is not None:
            return lit
        lit = len(self.literal_terms)
        self._literal_ids[key] = lit
        self.literal_terms.append(term)
        ids: list[int] = []
        for pat in term_patterns(term):
            p = self._pattern_ids.get(pat)
            if p is None:
                p = self._pattern_ids[pat] = len(self._pattern_ids)
                self._lits_of_pattern.append([])
                self.widths.append(pat.strip(" ").count(" ") + 1)
            self._lits_of_pattern[p].append(lit)
            ids.append(p)
        self._lit_patterns.append(ids)
        # Fewer, longer patterns hit fewer posts: a cheaper trigger.
        shortest = min(len(t) for t in term.tokens)
        cost = len(ids) * (20.0 if term.prefix else 1.0) * (4.0 if shortest < 4 else 1.0)
        self._literal_cost.append(cost)
        return lit

    def _anchor(self, node: Node) -> list[int] | None:
        """Literals one of which occurs in every post the node matches (None: no such set)."""
        if isinstance(node, Term):
            return [self.literal(node)]
        if isinstance(node, Near):
            return min(([self.literal(node.left)], [self.literal(node.right)]), key=self._cost)
        if isinstance(node, Proximity):
            return min(([self.literal(w)] for w in node.words), key=self._cost)
        if isinstance(node, Filter | Not):
            return None
        if isinstance(node, Or):
            out: list[int] = []
            for child in node.children:
                got = self._anchor(child)
                if got is None:
                    return None
                out += got
            return out
        options = [a for a in (self._anchor(c) for c in node.children) if a is not None]
        return min(options, key=self._cost) if options else None

    def _cost(self, lits: list[int]) -> float:
        return sum(self._literal_cost[lit] for lit in lits)

    def _check(self, node: Node) -> Check:
        if isinstance(node, Term):
            lit = self.literal(node)
            return lambda hits, post, pos: lit in hits
        if isinstance(node, Near):
            return _near(self.literal(node.left), self.literal(node.right), node.distance)
        if isinstance(node, Proximity):
            return _proximity([self.literal(w) for w in node.words], node.slop)
        if isinstance(node, Filter):
            return _filter(node)
        if isinstance(node, Not):
            inner = self._check(node.child)
            return lambda hits, post, pos: not inner(hits, post, pos)
        checks = tuple(self._check(c) for c in node.children)
        if isinstance(node, And):
            # Plain loops: all()/any() over a generator cost a frame per query check.
            def all_of(hits: set[int], post: PostIn, pos: Positions) -> bool:
                for check in checks:  # noqa: SIM110
                    if not check(hits, post, pos):
                        return False
                return True

            return all_of

        def any_of(hits: set[int], post: PostIn, pos: Positions) -> bool:
            for check in checks:  # noqa: SIM110
                if check(hits, post, pos):
                    return True
            return False

        return any_of


def _plain_or(node: Node) -> bool:
    """A term or an OR of terms: true exactly when one of its literals occurs."""
    if isinstance(node, Term):
        return True
    return isinstance(node, Or) and all(_plain_or(c) for c in node.children)


def _near(left: int, right: int, distance: int) -> Check:
    def check(hits: set[int], post: PostIn, pos: Positions) -> bool:
        if left not in hits or right not in hits:
            return False
        rights = pos.of(right)
        for a_first, a_last in pos.of(left):
            for b_first, b_last in rights:
                if a_last < b_first:
                    gap = b_first - a_last - 1
                elif b_last < a_first:
                    gap = a_first - b_last - 1
                else:
                    continue  # overlapping occurrences are not two things near each other
                if gap <= distance:
                    return True
        return False

    return check


def _proximity(words: list[int], slop: int) -> Check:
    """All words (single tokens) at distinct positions within a window of len+slop tokens."""
    need = Counter(words)
    width = len(words) - 1 + slop

    def check(hits: set[int], post: PostIn, pos: Positions) -> bool:
        if any(w not in hits for w in need):
            return False
        events = sorted((span[0], w) for w in need for span in pos.of(w))
        have: Counter[int] = Counter()
        missing = len(need)
        left = 0
        for position, word in events:
            have[word] += 1
            if have[word] == need[word]:
                missing -= 1
            while missing == 0:
                first, first_word = events[left]
                if position - first <= width:
                    return True
                if have[first_word] == need[first_word]:
                    missing += 1
                have[first_word] -= 1
                left += 1
        return False

    return check


def _filter(node: Filter) -> Check:
    value = node.value
    if node.field == "lang":
        return lambda hits, post, pos: post_language(post) == value
    if node.field == "network":
        return lambda hits, post, pos: post.network.lower() == value
    if node.field == "author":
        return lambda hits, post, pos: value in post_authors(post)
    attribute = {"repost": "repost_of", "reply": "reply_to", "quote": "quote_of"}[value]
    return lambda hits, post, pos: bool(getattr(post, attribute))


def post_language(post: PostIn) -> str:
    return (post.language or "").lower().replace("_", "-").split("-")[0]


def post_authors(post: PostIn) -> tuple[str, ...]:
    """The names ``author:`` compares with: the handle and the network's author id."""
    handle = (post.author_handle or "").lower().lstrip("@")
    return (handle, post.author_id.lower()) if handle else (post.author_id.lower(),)
