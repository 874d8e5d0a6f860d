"""Listening query logic. Takes a session, never commits: the caller owns the transaction.

Queries are validated here, when saved, so the matcher never meets a bad one.
"""

from __future__ import annotations

from sqlalchemy import (
    Connection,
)
from sqlalchemy.orm import Session

from earful.errors import BadInput
from earful.listening import repository as repo
from earful.listening.engine import LiveMatcher, QuerySource
from earful.listening.parser import QuerySyntaxError, parse
from earful.listening.query import Query
from earful.models import (
    Brand,
    ListeningQuery,
)

MAX_NAME = 200


class ListeningError(BadInput):
    """A listening query that cannot be saved or found."""


class InvalidQuery(ListeningError):
    """The query text does not parse; ``column`` (1-based) says where."""

    def __init__(self, error: QuerySyntaxError) -> None:
        super().__init__(f"invalid query: {error}")
        self.column = error.column
        self.reason = error.message


class QueryNotFound(ListeningError):
    status_code = 404
    title = "No such listening query"


class QueryNameTaken(ListeningError):
    status_code = 409
    title = "A listening query of that name exists"


def validate(text: str) -> None:
    """Raise :class:`InvalidQuery` unless ``text`` is a usable query."""
    try:
        parse(text)
    except QuerySyntaxError as exc:
        raise InvalidQuery(exc) from None


def add_query(
    session: Session, brand_id: int, name: str, text: str, enabled: bool = True
) -> ListeningQuery:
    name = _clean_name(name)
    validate(text)
    if session.get(Brand, brand_id) is None:
        raise QueryNotFound(f"brand {brand_id} does not exist")
    if repo.by_name(session, brand_id, name) is not None:
        raise QueryNameTaken(f"this brand already has a query named {name!r}")
    row = ListeningQuery(brand_id=brand_id, name=name, query=text, enabled=enabled)
    session.add(row)
    session.flush()
    return row


def update_query(
    session: Session,
    query_id: int,
    *,
    text: str | None = None,
    name: str | None = None,
    enabled: bool | None = None,
) -> ListeningQuery:
    row = repo.by_id(session, query_id)
    if row is None:
        raise QueryNotFound(f"listening query {query_id} does not exist")
    if text is not None:
        validate(text)
        row.query = text
    if name is not None:
        name = _clean_name(name)
        other = repo.by_name(session, row.brand_id, name)
        if other is not None and other.id != row.id:
            raise QueryNameTaken(f"this brand already has a query named {name!r}")
        row.name = name
    if enabled is not None:
        row.enabled = enabled
    session.flush()
    return row


def delete_query(session: Session, query_id: int) -> None:
    row = repo.by_id(session, query_id)
    if row is None:
        raise QueryNotFound(f"listening query {query_id} does not exist")
    session.delete(row)
    session.flush()


def keyword_query(keywords: list[str]) -> str | None:
    """A brand's plain keywords as one OR query (None when none is searchable)."""
    terms: list[str] = []
    for word in keywords:
        term = '"' + word.replace('"', " ").strip() + '"'
        try:
            parse(term)
        except QuerySyntaxError:
            continue  # e.g. "!!!": nothing to search for
        terms.append(term)
    return " OR ".join(dict.fromkeys(terms)) or None


def matcher_sources(conn: Connection | Session) -> list[QuerySource]:
    """What the matcher listens for.

    Each brand's enabled queries, or its plain keywords when it has none; and always an
    @mention of one of its own accounts, whatever its queries exclude.
    """
    sources = [QuerySource(q, brand, text) for q, brand, text in repo.enabled_queries(conn)]
    covered = {s.brand_id for s in sources}
    for brand_id, keywords, handles in repo.brand_keywords(conn):
        mentions = sorted(
            {
                "@" + str(h).lstrip("@")
                for names in handles.values()
                for h in ([names] if isinstance(names, str) else names)
            }
        )
        words = mentions if brand_id in covered else [*keywords, *mentions]
        text = keyword_query(words)
        if text is not None:
            sources.append(QuerySource(f"keywords:{brand_id}", brand_id, text))
    return sources


def build_matcher(conn: Connection | Session) -> LiveMatcher:
    return LiveMatcher(matcher_sources(conn))


def _clean_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise ListeningError(f"a query name needs 1 to {MAX_NAME} characters")
    return name


def listening_queries(session: Session, brand: Brand) -> list[Query]:
    """What the brand listens for, as the matcher sees it: its enabled queries, or its
    plain keywords when it has none, and always an @mention of its own accounts."""
    texts = repo.listening_texts(session, brand.id)
    mentions = sorted(
        {
            "@" + str(h).lstrip("@")
            for names in (brand.handles or {}).values()
            for h in ([names] if isinstance(names, str) else names)
        }
    )
    fallback = keyword_query(mentions if texts else [*(brand.keywords or []), *mentions])
    queries = []
    for text in [*texts, *([fallback] if fallback else [])]:
        try:
            queries.append(parse(text))
        except QuerySyntaxError:  # saved queries are validated; an old one may not parse
            continue
    return queries
