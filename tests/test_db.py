"""Database errors name the statement, never the values bound to it (customers' words)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from earful.brands.service import create_brand
from earful.db import transaction
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
