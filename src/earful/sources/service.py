"""Sources for the CLI and the web UI: add, list, inspect health, build and run connectors.

Services take a session and never commit; the caller's edge owns the transaction.
Credentials are sealed with the secret key before they touch the session and are never
part of what :func:`view` returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from earful.connectors import registry
from earful.connectors.base import Connector, ConnectorError, Health, LiveConnector
from earful.errors import BadInput
from earful.models import Source
from earful.pipeline.runner import IngestSummary, Pipeline
from earful.sources import live, repository
from earful.sources.crypto import CredentialError, seal, unseal

# Which settings of each kind are secrets (sealed), and which are plain options.
SECRET_FIELDS: dict[str, frozenset[str]] = {
    "bluesky": frozenset({"password"}),
    "mastodon": frozenset({"access_token"}),
    "reddit": frozenset({"client_secret", "refresh_token", "password"}),
    "x": frozenset({"bearer_token", "user_token"}),
    "meta": frozenset({"app_secret", "verify_token", "page_token"}),
    "webhook": frozenset({"secret"}),
}
PUSH_KINDS = frozenset({"meta", "webhook"})  # the network calls us: no connector to run


class SourceError(BadInput):
    """A live source that cannot be added, found or run as asked."""


class SourceNotFound(SourceError):
    status_code = 404
    title = "No such source"


class SourceExists(SourceError):
    status_code = 409
    title = "A source of that name exists"


@dataclass(slots=True, frozen=True)
class SourceView:
    """A source as shown to people: never its credentials."""

    id: int
    name: str
    kind: str
    brand_id: int | None
    options: dict[str, Any]
    has_credentials: bool
    status: str
    status_reason: str | None
    cursor: str | None
    updated_at: datetime


def view(source: Source) -> SourceView:
    config = source.config or {}
    return SourceView(
        id=source.id,
        name=source.name,
        kind=source.kind,
        brand_id=source.brand_id,
        options=dict(config.get("options") or {}),
        has_credentials=bool(config.get("credentials")),
        status=source.status,
        status_reason=source.status_reason,
        cursor=source.cursor,
        updated_at=source.updated_at,
    )


def kinds() -> list[str]:
    return sorted(SECRET_FIELDS)


def add_source(
    session: Session,
    *,
    kind: str,
    name: str,
    brand_id: int | None,
    settings: dict[str, Any],
    secret_key: str,
) -> SourceView:
    """Add a source; the kind's secret fields in ``settings`` are sealed at rest."""
    if kind not in SECRET_FIELDS:
        raise SourceError(f"unknown source kind {kind!r}; use one of {', '.join(kinds())}")
    if repository.by_name(session, name) is not None:
        raise SourceExists(f"a source named {name!r} exists")
    secrets = {k: v for k, v in settings.items() if k in SECRET_FIELDS[kind]}
    options = {k: v for k, v in settings.items() if k not in SECRET_FIELDS[kind]}
    config: dict[str, Any] = {"options": options}
    if secrets:
        config["credentials"] = seal(secrets, secret_key)
    source = repository.add(
        session, Source(name=name, kind=kind, brand_id=brand_id, config=config, status="idle")
    )
    return view(source)


def list_sources(session: Session, brand_ids: list[int] | None = None) -> list[SourceView]:
    return [view(s) for s in repository.listed(session, brand_ids)]


def get_source(session: Session, source_id: int) -> Source:
    source = repository.by_id(session, source_id)
    if source is None:
        raise SourceNotFound(f"no source with id {source_id}")
    return source


def health(session: Session, source_id: int) -> Health:
    source = get_source(session, source_id)
    state = source.status if source.status in _STATES else "idle"
    return Health(state, source.status_reason)  # type: ignore[arg-type]


_STATES = {"idle", "connecting", "connected", "lagging", "failing", "stopped", "running"}


def settings_of(source: Source, secret_key: str) -> dict[str, Any]:
    """Options and decrypted credentials: only for building a connector, never to show."""
    config = source.config or {}
    merged = dict(config.get("options") or {})
    if config.get("credentials"):
        merged.update(unseal(config["credentials"], secret_key))
    return merged


def build_connector(source: Source, secret_key: str, **overrides: Any) -> Connector:
    if source.kind in PUSH_KINDS:
        raise SourceError(f"{source.kind} sources are webhooks: the network calls us")
    cls = registry.get(source.kind)
    kwargs = settings_of(source, secret_key)
    kwargs.update(overrides)
    kwargs.setdefault("source_key", source.name)
    return cls(**kwargs)


def run_source(
    engine: Engine,
    source_id: int,
    secret_key: str,
    pipeline: Pipeline | None = None,
    **overrides: Any,
) -> IngestSummary:
    """Run a source's connector into the store (until it stops: ``idle_timeout``...)."""
    with Session(engine) as session:
        source = get_source(session, source_id)
        connector = build_connector(source, secret_key, **overrides)
    return live.run(engine, connector, source_id, pipeline)


def live_connectors(
    engine: Engine, secret_key: str
) -> tuple[list[tuple[int, str, LiveConnector]], list[tuple[str, str]]]:
    """Every configured source that we listen to (not the webhooks, which the network
    calls), built: ``[(id, name, connector)]``, and ``[(name, why)]`` for those that
    cannot be built (a bad setting, credentials sealed with another key)."""
    live: list[tuple[int, str, LiveConnector]] = []
    broken: list[tuple[str, str]] = []
    with Session(engine) as session:
        for source in repository.listed(session):
            if source.kind in PUSH_KINDS:
                continue
            try:
                connector = build_connector(source, secret_key)
            except (
                SourceError,
                ConnectorError,
                CredentialError,
                KeyError,
                TypeError,
                ValueError,
            ) as exc:
                broken.append((source.name, str(exc)))
                continue
            if not isinstance(connector, LiveConnector):
                broken.append((source.name, f"a {source.kind} source is not heard live"))
                continue
            live.append((source.id, source.name, connector))
    return live, broken
