"""The parsed form of a listening query: a small tree of frozen nodes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal as TypingLiteral

Field = TypingLiteral["lang", "author", "network", "is"]


@dataclass(frozen=True, slots=True)
class Term:
    """Words that must appear together, in order: a word, a "phrase", @handle or #hashtag.

    ``tokens`` are normalized; ``prefix`` makes the last token a prefix (``refund*``);
    ``variants`` are other spellings that count as this term (named ones from
    ``word[a, b]`` and, with ``fuzzy``, every edit-distance-1 typo of the word).
    """

    text: str
    column: int
    tokens: tuple[str, ...]
    prefix: bool = False
    variants: tuple[tuple[str, ...], ...] = ()
    fuzzy: bool = False


@dataclass(frozen=True, slots=True)
class Near:
    """Two terms at most ``distance`` tokens apart, in either order (``a NEAR/3 b``)."""

    left: Term
    right: Term
    distance: int
    column: int


@dataclass(frozen=True, slots=True)
class Proximity:
    """Every word of a phrase within ``slop`` extra tokens, any order (``"a b"~3``)."""

    words: tuple[Term, ...]
    slop: int
    column: int
    text: str


@dataclass(frozen=True, slots=True)
class Filter:
    """A condition on the post, not its text: ``lang:en``, ``author:@x``, ``is:reply``."""

    field: Field
    value: str
    column: int


@dataclass(frozen=True, slots=True)
class Not:
    child: Node
    column: int = 1


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


Node = Term | Near | Proximity | Filter | Not | And | Or


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed, validated query."""

    text: str
    root: Node


def terms_of(node: Node) -> list[Term]:
    """Every term of a tree, left to right."""
    if isinstance(node, Term):
        return [node]
    if isinstance(node, Near):
        return [node.left, node.right]
    if isinstance(node, Proximity):
        return list(node.words)
    if isinstance(node, Filter):
        return []
    if isinstance(node, Not):
        return terms_of(node.child)
    return [t for child in node.children for t in terms_of(child)]


def first_column(node: Node) -> int:
    """The column where a node's text starts."""
    if isinstance(node, Term | Near | Proximity | Filter | Not):
        return node.column if not isinstance(node, Near) else node.left.column
    return first_column(node.children[0])


def render(node: Node) -> str:
    """Query text that parses back to an equivalent tree."""
    if isinstance(node, Term):
        return _render_term(node)
    if isinstance(node, Near):
        return f"{_render_term(node.left)} NEAR/{node.distance} {_render_term(node.right)}"
    if isinstance(node, Proximity):
        return '"' + " ".join(w.tokens[0] for w in node.words) + f'"~{node.slop}'
    if isinstance(node, Filter):
        return f"{node.field}:{node.value}"
    if isinstance(node, Not):
        return f"NOT {_group(node.child)}"
    joiner = " AND " if isinstance(node, And) else " OR "
    return joiner.join(_group(c) for c in node.children)


def _group(node: Node) -> str:
    return f"({render(node)})" if isinstance(node, And | Or) else render(node)


def _render_term(term: Term) -> str:
    words = " ".join(term.tokens)
    body = f'"{words}"' if len(term.tokens) > 1 else words
    if term.prefix:
        body += "*"
    if term.fuzzy:
        body += "~"
    if term.variants:
        body += "[" + ", ".join(f'"{" ".join(v)}"' for v in term.variants) + "]"
    return body
