"""Parse listening queries, with errors that say what is wrong and at which column.

Grammar (lowest precedence first)::

    query   := and (OR and)*
    and     := unary ([AND] unary)*          juxtaposition means AND
    unary   := (NOT | -) unary | near
    near    := primary [NEAR/n primary]      both sides terms
    primary := ( query ) | "phrase"[~n] | word[*|~][[variant, ...]] | field:value

Operators are upper-case (``and``/``or``/``not`` are plain words). A query must contain a
word it listens for in every alternative: ``NOT foo`` or ``lang:en`` alone would match
(nearly) every post, so they are refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from earful.errors import BadInput
from earful.listening.normalize import URL_MASK, normalize
from earful.listening.query import (
    And,
    Field,
    Filter,
    Near,
    Node,
    Not,
    Or,
    Proximity,
    Query,
    Term,
    first_column,
)

MAX_QUERY_CHARS = 4000
MAX_TERMS = 300
MAX_DEPTH = 30
MAX_DISTANCE = 50
MIN_PREFIX = 3
MIN_FUZZY = 5
FIELDS: tuple[Field, ...] = ("lang", "author", "network", "is")
IS_VALUES = ("repost", "reply", "quote")


class QuerySyntaxError(BadInput):
    """A query that cannot be used; ``column`` is 1-based."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"column {column}: {message}")
        self.message = message
        self.column = column

    def pointer(self, query: str) -> str:
        """The query with a caret under the offending column."""
        return f"{query}\n{' ' * (self.column - 1)}^ {self.message}"


Kind = Literal["(", ")", "AND", "OR", "NOT", "-", "NEAR", "PHRASE", "WORD", "END"]


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: Kind
    text: str
    column: int
    # PHRASE: the ~n after it; NEAR: its distance.
    number: int | None = None
    # WORD: the [variants] right after it, each (text, column).
    variants: tuple[tuple[str, int], ...] | None = None


_NEAR = re.compile(r"NEAR/(\d+)$")
_BARE_WORD = re.compile(r'[^\s()"\[\]]+')
_FIELD = re.compile(r"([A-Za-z]+):(.*)$", re.S)
_LANG = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{2,8})*$")


def parse(text: str) -> Query:
    """Parse and validate; raises :class:`QuerySyntaxError`."""
    if len(text) > MAX_QUERY_CHARS:
        raise QuerySyntaxError(f"query longer than {MAX_QUERY_CHARS} characters", MAX_QUERY_CHARS)
    parser = _Parser(_lex(text))
    root = parser.query()
    if parser.terms > MAX_TERMS:
        raise QuerySyntaxError(f"more than {MAX_TERMS} terms in one query", 1)
    loose = _unanchored(root)
    if loose is not None:
        raise QuerySyntaxError(
            "this would match posts that contain none of the query's words "
            "(a NOT or a filter on its own matches almost everything); "
            "combine it with a word to listen for, as in `skyward AND NOT pie`",
            first_column(loose),
        )
    return Query(text=text, root=root)


def _unanchored(node: Node) -> Node | None:
    """The part of the tree that lets a post match without any of its terms, if any."""
    if isinstance(node, Or):
        return next((c for c in node.children if not anchored(c)), None)
    return None if anchored(node) else node


def anchored(node: Node) -> bool:
    """True when every post the query matches contains at least one of its terms."""
    if isinstance(node, Term | Near | Proximity):
        return True
    if isinstance(node, Filter | Not):
        return False
    if isinstance(node, And):
        return any(anchored(c) for c in node.children)
    return all(anchored(c) for c in node.children)


# ---------------------------------------------------------------- lexer


def _lex(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        col = i + 1
        if ch.isspace():
            i += 1
        elif ch in "()":
            out.append(_Tok(ch, ch, col))  # type: ignore[arg-type]
            i += 1
        elif ch == "-" and i + 1 < n and not text[i + 1].isspace() and text[i + 1] != "-":
            out.append(_Tok("-", ch, col))
            i += 1
        elif ch == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise QuerySyntaxError("unclosed quote", col)
            i = end + 1
            number = None
            if i < n and text[i] == "~":
                m = re.match(r"~(\d+)", text[i:])
                if not m:
                    raise QuerySyntaxError(
                        'expected a number after ~, as in "late flight"~3', i + 1
                    )
                number = int(m.group(1))
                i += len(m.group())
            out.append(_Tok("PHRASE", text[col:end], col, number=number))
        elif ch in "[]":
            raise QuerySyntaxError(
                f"unexpected '{ch}': variants go right after a word, as in skyward[skyword]", col
            )
        else:
            m = _BARE_WORD.match(text, i)
            assert m is not None  # text[i] is none of the characters that end a word
            word = m.group()
            i = m.end()
            near = _NEAR.match(word)
            if word in ("AND", "OR", "NOT"):
                out.append(_Tok(word, word, col))  # type: ignore[arg-type]
            elif near:
                out.append(_Tok("NEAR", word, col, number=int(near.group(1))))
            elif word.startswith("NEAR"):
                raise QuerySyntaxError(
                    "expected NEAR/n with a number, as in late NEAR/3 flight", col
                )
            else:
                variants = None
                if i < n and text[i] == "[":
                    variants, i = _lex_variants(text, i)
                out.append(_Tok("WORD", word, col, variants=variants))
    out.append(_Tok("END", "", len(text) + 1))
    return out


def _lex_variants(text: str, start: int) -> tuple[tuple[tuple[str, int], ...], int]:
    """``[a, "b c", d]`` starting at ``start`` (the '['): the items and the index after ']'."""
    items: list[tuple[str, int]] = []
    i = start + 1
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            raise QuerySyntaxError("unclosed '[' of variants", start + 1)
        if text[i] == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise QuerySyntaxError("unclosed quote", i + 1)
            items.append((text[i + 1 : end], i + 2))
            i = end + 1
        else:
            j = i
            while j < len(text) and text[j] not in ',]"[' and not text[j].isspace():
                j += 1
            if j == i:
                raise QuerySyntaxError("expected a variant spelling", i + 1)
            items.append((text[i:j], i + 1))
            i = j
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            raise QuerySyntaxError("unclosed '[' of variants", start + 1)
        if text[i] == ",":
            i += 1
        elif text[i] == "]":
            return tuple(items), i + 1
        else:
            raise QuerySyntaxError("expected ',' or ']' in the list of variants", i + 1)


# ---------------------------------------------------------------- parser


class _Parser:
    def __init__(self, toks: list[_Tok]) -> None:
        self.toks = toks
        self.pos = 0
        self.depth = 0
        self.terms = 0

    def peek(self) -> _Tok:
        return self.toks[self.pos]

    def take(self) -> _Tok:
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def query(self) -> Node:
        if self.peek().kind == "END":
            raise QuerySyntaxError("empty query", 1)
        node = self.or_()
        tok = self.peek()
        if tok.kind == ")":
            raise QuerySyntaxError("')' without a matching '('", tok.column)
        if tok.kind != "END":  # pragma: no cover - or_() stops only at ')' or END
            raise QuerySyntaxError(f"unexpected {tok.text!r}", tok.column)
        return node

    def or_(self) -> Node:
        children = [self.and_()]
        while self.peek().kind == "OR":
            self.take()
            children.append(self.and_())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def and_(self) -> Node:
        children = [self.unary()]
        while self.peek().kind not in ("OR", ")", "END"):
            if self.peek().kind == "AND":
                self.take()
            children.append(self.unary())
        return children[0] if len(children) == 1 else And(tuple(children))

    def unary(self) -> Node:
        tok = self.peek()
        if tok.kind in ("NOT", "-"):
            self.take()
            if self.peek().kind in ("END", ")", "OR", "AND"):
                raise QuerySyntaxError(
                    f"expected something to exclude after {tok.text}", tok.column
                )
            return Not(self.unary(), tok.column)
        return self.near()

    def near(self) -> Node:
        left = self.primary()
        tok = self.peek()
        if tok.kind != "NEAR":
            return left
        self.take()
        right = self.primary()
        if not isinstance(left, Term) or not isinstance(right, Term):
            raise QuerySyntaxError("NEAR joins two words or phrases", tok.column)
        if self.peek().kind == "NEAR":
            raise QuerySyntaxError(
                "NEAR cannot be chained; use parentheses and AND", self.peek().column
            )
        assert tok.number is not None
        return Near(left, right, _distance(tok.number, tok.column), tok.column)

    def primary(self) -> Node:
        tok = self.take()
        if tok.kind == "(":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise QuerySyntaxError(f"more than {MAX_DEPTH} nested parentheses", tok.column)
            if self.peek().kind == ")":
                raise QuerySyntaxError("empty parentheses", tok.column)
            node = self.or_()
            close = self.take()
            if close.kind != ")":
                raise QuerySyntaxError("'(' is never closed", tok.column)
            self.depth -= 1
            return node
        if tok.kind == "PHRASE":
            return self.phrase(tok)
        if tok.kind == "WORD":
            return self.word(tok)
        if tok.kind == "END":
            raise QuerySyntaxError("query ends where a term was expected", tok.column)
        if tok.kind == ")":
            raise QuerySyntaxError("')' without a matching '('", tok.column)
        raise QuerySyntaxError(f"{tok.text} needs a term on its left", tok.column)

    def phrase(self, tok: _Tok) -> Node:
        self.terms += 1
        words = _term_tokens(tok.text, tok.column, "phrase")
        if tok.number is None:
            return Term(text=f'"{tok.text}"', column=tok.column, tokens=words)
        if len(words) < 2:
            raise QuerySyntaxError(
                "proximity ~n needs at least two words in the quotes", tok.column
            )
        parts = tuple(Term(text=w, column=tok.column, tokens=(w,)) for w in words)
        slop = _distance(tok.number, tok.column)
        return Proximity(words=parts, slop=slop, column=tok.column, text=f'"{tok.text}"~{slop}')

    def word(self, tok: _Tok) -> Node:
        self.terms += 1
        text, col = tok.text, tok.column
        if "://" in text or text.lower().startswith("www."):
            raise QuerySyntaxError("links are not searchable (URLs in posts are masked)", col)
        field = _FIELD.match(text)
        if field and not text.startswith(("@", "#")):
            if tok.variants is not None:
                raise QuerySyntaxError("a field filter has no variants", col)
            return _filter(field.group(1).lower(), field.group(2), col)
        fuzzy = text.endswith("~")
        body = text[:-1] if fuzzy else text
        prefix = body.endswith("*")
        body = body[:-1] if prefix else body
        if "*" in body or "~" in body:
            raise QuerySyntaxError(
                "* and ~ go only at the end of a word, as in refund* or skyward~", col
            )
        if prefix and fuzzy:
            raise QuerySyntaxError("a word cannot be both a prefix (*) and fuzzy (~)", col)
        words = _term_tokens(body, col, "word")
        if prefix:
            if len(words) != 1 or words[0][0] in "#@":
                raise QuerySyntaxError("* applies to a single plain word, as in refund*", col)
            if len(words[0]) < MIN_PREFIX:
                raise QuerySyntaxError(
                    f"a prefix needs at least {MIN_PREFIX} letters before *; fewer match too much",
                    col,
                )
        if fuzzy and (len(words) != 1 or words[0][0] in "#@" or len(words[0]) < MIN_FUZZY):
            raise QuerySyntaxError(
                f"~ (typo variants) applies to one plain word of at least {MIN_FUZZY} letters",
                col,
            )
        variants = tuple(_term_tokens(v, vcol, "variant") for v, vcol in (tok.variants or ()))
        return Term(
            text=text if tok.variants is None else text + "[...]",
            column=col,
            tokens=words,
            prefix=prefix,
            variants=tuple(dict.fromkeys(v for v in variants if v != words)),
            fuzzy=fuzzy,
        )


def _distance(number: int, column: int) -> int:
    if number > MAX_DISTANCE:
        raise QuerySyntaxError(f"distance {number} is more than {MAX_DISTANCE}", column)
    return number


def _term_tokens(text: str, column: int, what: str) -> tuple[str, ...]:
    words = tuple(normalize(text, hashtags=False).split())
    if not words:
        raise QuerySyntaxError(
            f"{what} {text!r} has no letters, digits or emoji to search for", column
        )
    if URL_MASK in words or "://" in text or text.lower().startswith("www."):
        raise QuerySyntaxError("links are not searchable (URLs in posts are masked)", column)
    return words


def _filter(name: str, value: str, column: int) -> Filter:
    if name not in FIELDS:
        known = ", ".join(f"{f}:" for f in FIELDS)
        raise QuerySyntaxError(f"unknown field {name!r}; known fields: {known}", column)
    value_col = column + len(name) + 1
    if not value:
        raise QuerySyntaxError(f"{name}: needs a value", value_col)
    value = value.lower()
    if name == "lang" and not _LANG.match(value):
        raise QuerySyntaxError(f"{value!r} is not a language code like en or pt-br", value_col)
    if name == "is" and value not in IS_VALUES:
        raise QuerySyntaxError(f"is: takes {', '.join(IS_VALUES)}, not {value!r}", value_col)
    if name == "author":
        value = value.lstrip("@")
        if not value:
            raise QuerySyntaxError("author: needs a handle", value_col)
    field: Field = name
    return Filter(
        field=field, value=value.split("-")[0] if name == "lang" else value, column=column
    )
