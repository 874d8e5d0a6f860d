"""Connectors by name."""

from __future__ import annotations

import contextlib
import importlib
from typing import TypeVar

from earful.connectors.base import Connector

C = TypeVar("C", bound=type[Connector])

_REGISTRY: dict[str, type[Connector]] = {}


def register(cls: C) -> C:
    _REGISTRY[cls.name] = cls
    return cls


def get(name: str) -> type[Connector]:
    if name not in _REGISTRY and name.isidentifier():
        # Connectors register themselves when their module is first imported.
        with contextlib.suppress(ImportError):
            importlib.import_module(f"earful.connectors.{name}")
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise KeyError(f"unknown connector {name!r}; known: {known}") from None


def names() -> list[str]:
    return sorted(_REGISTRY)
