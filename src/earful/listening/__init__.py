"""Listening: the query language brands use to hear their mentions, and its matcher.

``parse`` turns query text into a tree (or a :class:`QuerySyntaxError` with a column),
``CompiledMatcher`` matches all queries of all brands in one Aho–Corasick pass,
``LiveMatcher`` recompiles in the background, ``explain`` says which terms hit where.
"""

from earful.listening.compiler import CompiledMatcher
from earful.listening.engine import LiveMatcher, QuerySource
from earful.listening.explain import Explanation, TermHit, explain
from earful.listening.normalize import normalize, tokens
from earful.listening.parser import QuerySyntaxError, parse
from earful.listening.query import Query

__all__ = [
    "CompiledMatcher",
    "Explanation",
    "LiveMatcher",
    "Query",
    "QuerySource",
    "QuerySyntaxError",
    "TermHit",
    "explain",
    "normalize",
    "parse",
    "tokens",
]
