"""Sources for the CLI and the web UI: add, list, inspect health, build and run connectors.

Services take a session and never commit; the caller's edge owns the transaction.
Credentials are sealed with the secret key before they touch the session and are never
part of what :func:`view` returns.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from earful.connectors import fields, registry
from earful.connectors.base import Connector, ConnectorError, Health, LiveConnector
from earful.errors import BadInput
from earful.models import Source
from earful.pipeline.runner import IngestSummary, Pipeline
from earful.sources import live, repository
from earful.sources.crypto import CredentialError, seal, unseal

# Which settings of each kind are secrets (sealed), and which are plain options: from the
# one declaration the web form is drawn from too.
SECRET_FIELDS: dict[str, frozenset[str]] = {k: fields.secret_names(k) for k in fields.FIELDS}
PUSH_KINDS = frozenset(
    {"meta", "webhook", "x_activity"}
)  # the network calls us: no connector to run


class SourceError(BadInput):
    """A live source that cannot be added, found or run as asked."""


class SourceNotFound(SourceError):
    status_code = 404
    title = "No such source"


class SourcePaused(SourceError):
    status_code = 503  # a webhook network retries later: nothing it sends is lost
    title = "Source paused"


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
    paused: bool = False
    last_event_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None

    @property
    def state(self) -> str:
        """What an admin reads: paused wins over the last health a listener wrote."""
        return "paused" if self.paused else self.status


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
        paused=bool(source.paused),
        last_event_at=source.last_event_at,
        last_error=source.last_error,
        last_error_at=source.last_error_at,
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
    settings = {k: _listed(v) if k in fields.many_names(kind) else v for k, v in settings.items()}
    secrets = {k: v for k, v in settings.items() if k in SECRET_FIELDS[kind]}
    options = {k: v for k, v in settings.items() if k not in SECRET_FIELDS[kind]}
    config: dict[str, Any] = {"options": options}
    if secrets:
        config["credentials"] = seal(secrets, secret_key)
    source = repository.add(
        session, Source(name=name, kind=kind, brand_id=brand_id, config=config, status="idle")
    )
    return view(source)


def _listed(value: Any) -> Any:
    """A list setting typed as text (``--set queries=a`` or a form's textarea): one a line
    or comma-separated, so that a connector never iterates a string's letters."""
    if not isinstance(value, str):
        return value
    return [item.strip() for item in value.replace(",", "\n").splitlines() if item.strip()]


def form_settings(kind: str, form: Mapping[str, Any]) -> dict[str, Any]:
    """The settings a web form sent for ``kind`` (its fields named ``set_<name>``): the
    declared ones only, blanks left to the connector's defaults; a required one missing is
    refused by its label."""
    if kind not in fields.FIELDS:
        raise SourceError(f"unknown source kind {kind!r}; use one of {', '.join(kinds())}")
    found: dict[str, Any] = {}
    for field in fields.FIELDS[kind]:
        value = form.get(f"set_{field.name}")
        value = value.strip() if isinstance(value, str) else ""
        if len(value) > 4000:
            raise SourceError(f"{kind}: {field.label} is too long")
        if value:
            found[field.name] = value
        elif field.required:
            raise SourceError(f"{kind}: {field.label} is required")
    return found


def list_sources(session: Session, brand_ids: list[int] | None = None) -> list[SourceView]:
    return [view(s) for s in repository.listed(session, brand_ids)]


def get_source(session: Session, source_id: int) -> Source:
    source = repository.by_id(session, source_id)
    if source is None:
        raise SourceNotFound(f"no source with id {source_id}")
    return source


def heard_source(session: Session, source_id: int) -> Source:
    """A source about to be heard (a webhook delivery): refused while paused."""
    source = get_source(session, source_id)
    if source.paused:
        raise SourcePaused(f"source {source_id} is paused")
    return source


def set_paused(session: Session, source_id: int, paused: bool) -> SourceView:
    """Pause (a running ``earful run`` stops hearing it within a few seconds and stores
    nothing more from it) or resume (heard again from its cursor, as promptly)."""
    source = get_source(session, source_id)
    source.paused = paused
    session.flush()
    return view(source)


def delete_source(session: Session, source_id: int) -> None:
    """Forget a source and its sealed credentials; the posts it brought stay."""
    repository.delete(session, get_source(session, source_id))


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
        source = heard_source(session, source_id)  # a paused source is resumed first
        connector = build_connector(source, secret_key, **overrides)
    return live.run(engine, connector, source_id, pipeline)


def live_connectors(
    engine: Engine, secret_key: str, only: Collection[int] | None = None
) -> tuple[list[tuple[int, str, LiveConnector]], list[tuple[str, str]]]:
    """Every configured source that we listen to (not the webhooks, which the network
    calls, nor the paused), or those of them in ``only``, built: ``[(id, name,
    connector)]``, and ``[(name, why)]`` for those that cannot be built (a bad setting,
    credentials sealed with another key)."""
    live: list[tuple[int, str, LiveConnector]] = []
    broken: list[tuple[str, str]] = []
    with Session(engine) as session:
        for source in repository.listed(session):
            if source.kind in PUSH_KINDS or source.paused:
                continue
            if only is not None and source.id not in only:
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
