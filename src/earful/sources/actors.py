"""Which connector acts for a brand on a network: the outbound worker's resolver.

A source's kind is not always the posts' network: a ``meta`` source (one Facebook page
and its Instagram account, reached through the Graph API) answers posts whose network is
``facebook`` or ``instagram``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from earful.connectors.base import Actor, NotSupported
from earful.connectors.meta import GRAPH_URL, MetaGraph
from earful.db import transaction
from earful.sources import service as sources

NETWORKS_OF_KIND: dict[str, frozenset[str]] = {
    "meta": frozenset({"facebook", "instagram"}),
    # Private-message sources: they answer their network's direct messages only, so a
    # source of the network's own kind (which can also answer in public) goes first.
    "x_dm": frozenset({"x"}),
    "bluesky_chat": frozenset({"bluesky"}),
}


PRIVATE_ONLY = frozenset({"x_dm", "bluesky_chat"})


def networks_of(kind: str) -> frozenset[str]:
    return NETWORKS_OF_KIND.get(kind, frozenset({kind}))


def actor_for(session: Session, brand_id: int, network: str, secret_key: str) -> Actor:
    """The brand's first running source that can act on ``network``."""
    views = sources.list_sources(session, [brand_id])
    for view in sorted(views, key=lambda v: v.kind in PRIVATE_ONLY):  # stable: full kinds first
        if network not in networks_of(view.kind):
            continue
        source = sources.get_source(session, view.id)
        if source.kind == "meta":
            return _meta_actor(sources.settings_of(source, secret_key), network)
        connector = sources.build_connector(source, secret_key)
        if isinstance(connector, Actor):
            return connector
    raise NotSupported(f"brand {brand_id} has no {network} source that can answer")


def _meta_actor(settings: dict[str, object], network: str) -> MetaGraph:
    token = settings.get("page_token")
    if not isinstance(token, str) or not token:
        raise NotSupported("this Meta source has no page token: it can receive but not answer")
    platform: Literal["facebook", "instagram"] = (
        "instagram" if network == "instagram" else "facebook"
    )
    page_id = settings.get("page_id")
    graph_url = settings.get("graph_url")
    return MetaGraph(
        page_token=token,
        page_id=str(page_id) if page_id else None,
        platform=platform,
        graph_url=str(graph_url) if graph_url else GRAPH_URL,
    )


def resolver(engine: Engine, secret_key: str) -> Callable[[int, str], Actor]:
    """``(brand id, network) -> Actor`` for the outbound worker, one transaction a call."""

    def resolve(brand_id: int, network: str) -> Actor:
        with transaction(engine) as session:
            return actor_for(session, brand_id, network, secret_key)

    return resolve
