"""Fixtures for protocol tests: a brand and a source bound to it."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from earful.brands.service import create_brand
from earful.db import transaction
from earful.sources.service import add_source

SECRET = "test-secret-key"


def make_source(engine: Engine, kind: str, settings: dict[str, object] | None = None) -> int:
    with transaction(engine) as session:
        brand = create_brand(session, "acme", "Acme Air", ["acmeair"], {})
        source = add_source(
            session,
            kind=kind,
            name=f"{kind}:acme",
            brand_id=brand.id,
            settings=dict(settings or {}),
            secret_key=SECRET,
        )
        return source.id


@pytest.fixture
def secret() -> str:
    return SECRET
