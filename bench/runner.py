"""Find and run benchmark suites; print a table per suite or JSON lines."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from bench.harness import Figure, Size

# In the order `bench/run.py` (`make bench`) runs them by default.
SUITES = (
    "ingest",
    "matcher",
    "classify",
    "connectors",
    "inbox",
    "pipeline",
    "outbound",
    "alerts",
    "eta",
    "workers",
    "load",
    "soak",
)
# Run only when named (`bench/run.py soak`): a soak takes ten minutes.
ON_DEMAND = ("soak",)


def load(name: str) -> Callable[..., list[Figure]] | None:
    """The suite's ``run`` function, or None when this build has no such suite yet."""
    try:
        module = importlib.import_module(f"bench.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"bench.{name}":
            return None
        raise
    run: Callable[..., list[Figure]] = module.run
    return run


def run_suite(name: str, size: Size, **options: Any) -> list[Figure]:
    run = load(name)
    if run is None:
        raise KeyError(name)
    accepted = inspect.signature(run).parameters
    return run(size, **{k: v for k, v in options.items() if k in accepted and v is not None})


def available() -> list[str]:
    return [name for name in SUITES if load(name) is not None]
