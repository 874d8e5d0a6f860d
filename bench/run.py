"""`make bench`: the default benchmark suites, with PostgreSQL when it is reachable."""

from __future__ import annotations

import os
import sys

from earful.cli.main import app

PG = os.environ.get(
    "EARFUL_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

if __name__ == "__main__":
    sys.argv = ["earful", "bench", "--database", PG, *sys.argv[1:]]
    app()
