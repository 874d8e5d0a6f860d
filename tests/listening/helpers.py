"""Posts and matchers for listening tests."""

from __future__ import annotations

from datetime import UTC, datetime

from earful.listening import CompiledMatcher, parse
from earful.pipeline.schema import PostIn


def post(text: str, **fields: str | None) -> PostIn:
    return PostIn(
        network=fields.pop("network", None) or "bluesky",
        external_id=fields.pop("external_id", None) or "p1",
        author_id=fields.pop("author_id", None) or "did:plc:someone",
        text=text,
        created_at=datetime(2026, 11, 20, tzinfo=UTC),
        **fields,  # type: ignore[arg-type]
    )


def matches(query: str, text: str, **fields: str | None) -> bool:
    matcher = CompiledMatcher([("q", 1, parse(query))])
    return bool(matcher.match([post(text, **fields)])[0])
