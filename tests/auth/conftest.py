from __future__ import annotations

import pytest
from sqlalchemy import Engine

from tests.web.world import World, build_world


@pytest.fixture
def world(engine: Engine) -> World:
    return build_world(engine, per_brand=1)
