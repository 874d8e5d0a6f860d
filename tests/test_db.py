"""Database errors name the statement, never the values bound to it (customers' words)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from earful.brands.service import create_brand
from earful.db import make_engine, transaction
from earful.models import Brand


def test_a_database_error_does_not_carry_the_bound_values(engine: Engine) -> None:
    with transaction(engine) as s:
        create_brand(s, "acme", "Acme Air")
    secret = "alice.private@example.org says my card 4111 was charged twice"
    with pytest.raises(IntegrityError) as caught, transaction(engine) as s:
        s.add(Brand(slug="acme", name=secret, keywords=[], handles={}))
        s.flush()
    text = str(caught.value) + repr(caught.value)
    assert "brands" in text  # the statement is named, so the error is still useful
    assert secret not in text and "alice.private" not in text


SECRET = "alice.private@example.org says my card 4111 was charged twice"


@pytest.mark.parametrize(
    "bad",
    [
        # PostgreSQL's DETAIL: "Failing row contains (…, <the name>, …)"
        pytest.param(lambda: Brand(slug=None, name=SECRET, keywords=[], handles={}), id="null"),
        # PostgreSQL's DETAIL: "Key (slug)=(<the value>) already exists"
        pytest.param(lambda: Brand(slug=SECRET, name="x", keywords=[], handles={}), id="dup"),
    ],
)
def test_a_failing_insert_logs_no_values(
    engine: Engine, caplog: pytest.LogCaptureFixture, bad: Callable[[], Brand]
) -> None:
    """The engine's own log lines and a logged traceback (the driver's error chained
    under SQLAlchemy's) name the statement and the constraint, never the row's values."""
    assert engine.hide_parameters
    with transaction(engine) as s:
        s.add(Brand(slug=SECRET, name="first", keywords=[], handles={}))
    fresh = make_engine(engine.url.render_as_string(hide_password=False))
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    caplog.set_level(logging.INFO, logger="earful")
    try:
        with pytest.raises(IntegrityError) as caught, transaction(fresh) as s:
            s.add(bad())
            s.flush()
        logging.getLogger("earful.test").error("insert failed", exc_info=caught.value)
    finally:
        fresh.dispose()
    logged = caplog.text
    assert "INSERT INTO brands" in logged and "brands" in str(caught.value)  # still useful
    assert "parameters hidden" in logged
    chained = caught.value.__cause__ or caught.value.orig
    for text in (logged, str(caught.value), str(chained)):
        assert SECRET not in text and "alice.private" not in text
