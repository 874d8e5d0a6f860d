"""Stored queries: validated when saved, and what drives the pipeline's match stage."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from earful.brands.service import create_brand
from earful.connectors.base import Batch
from earful.conversations.repository import export_rows
from earful.db import transaction
from earful.listening import repository
from earful.listening.service import (
    InvalidQuery,
    QueryNameTaken,
    add_query,
    matcher_sources,
    update_query,
)
from earful.pipeline.runner import Pipeline
from tests.listening.helpers import post


def _brands(engine: Engine) -> tuple[int, int]:
    with transaction(engine) as session:
        sky = create_brand(session, "skyward", "Skyward Air", ["Skyward"], {"x": ["SkywardAir"]})
        apple = create_brand(session, "apple", "Apple", ["apple"])
        return sky.id, apple.id


def test_a_bad_query_is_refused_when_saved_with_its_column(engine: Engine) -> None:
    sky, _ = _brands(engine)
    with transaction(engine) as session:
        with pytest.raises(InvalidQuery) as info:
            add_query(session, sky, "main", "skyward AND (late OR")
        assert info.value.column == 21
        assert info.value.status_code == 400
        with pytest.raises(InvalidQuery, match="contain none"):
            add_query(session, sky, "main", "NOT skyward")
        assert repository.for_brands(session) == []


def test_names_are_unique_per_brand_and_edits_are_validated(engine: Engine) -> None:
    sky, apple = _brands(engine)
    with transaction(engine) as session:
        row = add_query(session, sky, "main", "skyward")
        add_query(session, apple, "main", "apple")
        with pytest.raises(QueryNameTaken):
            add_query(session, sky, "main", "skyward air")
        with pytest.raises(InvalidQuery):
            update_query(session, row.id, text='"unclosed')
        update_query(session, row.id, text="skyward~", enabled=False)
    with transaction(engine) as session:
        stored = repository.for_brands(session, [sky])
        assert [(q.name, q.query, q.enabled) for q in stored] == [("main", "skyward~", False)]


def test_brands_without_queries_keep_their_keywords_and_mentions(engine: Engine) -> None:
    sky, apple = _brands(engine)
    with transaction(engine) as session:
        add_query(session, apple, "main", "(apple OR iphone) NOT pie")
        texts = {s.brand_id: s.text for s in matcher_sources(session) if s.brand_id == sky}
        by_brand = {(s.brand_id, s.text) for s in matcher_sources(session)}
    assert texts == {sky: '"Skyward" OR "@SkywardAir"'}
    assert (apple, "(apple OR iphone) NOT pie") in by_brand


def test_stored_queries_drive_the_match_stage(engine: Engine) -> None:
    sky, apple = _brands(engine)
    with transaction(engine) as session:
        add_query(session, sky, "name", '(skyward~ OR #FlySkyward) NOT "skyward view"')
        add_query(session, apple, "products", "(apple OR iphone) NOT (pie OR juice)")
        add_query(session, apple, "off", "skyward", enabled=False)
    posts = [
        post("skyword lost my bag", external_id="1", author_id="u1"),
        post("what a skyward view", external_id="2", author_id="u2"),
        post("apple pie", external_id="3", author_id="u3"),
        post("iphone died on my #FlySkyward trip", external_id="4", author_id="u4"),
        post("@SkywardAir hello", external_id="5", author_id="u5"),
    ]
    pipeline = Pipeline(engine)
    with engine.begin() as conn:
        summary = pipeline.process(conn, Batch(posts=posts), origin="test")
    assert (summary.ingested, summary.unmatched) == (3, 2)
    with engine.connect() as conn:
        heard = {(c["brand"], tuple(c["posts"])) for c in export_rows(conn)}
    assert heard == {
        ("skyward", ("1",)),
        ("skyward", ("4",)),
        ("apple", ("4",)),
        ("skyward", ("5",)),
    }
