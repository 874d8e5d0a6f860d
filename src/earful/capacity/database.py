"""A scratch database for one measurement: created empty and migrated, dropped after."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

from earful.db import make_engine
from earful.migrate import upgrade


@contextmanager
def fresh_database(url: str | None, workdir: Path) -> Iterator[Engine]:
    """An empty migrated database: a new SQLite file, or a new schema on PostgreSQL."""
    if url is None or url.startswith("sqlite"):
        path = workdir / f"{uuid.uuid4().hex}.db"
        engine = make_engine(f"sqlite:///{path}")
    else:
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = make_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in url else "?"
        engine = make_engine(f"{url}{sep}options=-csearch_path%3D{schema}")
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        if url is None or url.startswith("sqlite"):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        else:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
