"""The ingest repository's write path on both backends: ids come back right even when
another writer stored some of the rows first (the SQLite id shortcut and the PostgreSQL
COPY path both fall back to a lookup)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, func, select

from earful.models import Identity, Post
from earful.pipeline.repository import IngestRepository
from earful.pipeline.schema import EMPTY_LABELS, Classified, PostIn


def _post(n: int, author: str = "a1") -> Classified:
    return Classified(
        post=PostIn(
            network="x",
            external_id=f"p{n}",
            author_id=author,
            author_handle=author,
            text=f"post number {n} about Skyward",
            created_at=datetime(2026, 11, 20, 10, n, tzinfo=UTC),
            raw=b'{"raw": true, "bytes": "\\u00e9"}',
        ),
        brand_ids=frozenset({1}),
        own_brand_ids=frozenset(),
        labels=EMPTY_LABELS,
    )


def _store(engine: Engine, batch: list[Classified]) -> dict[tuple[str, str], int]:
    with engine.begin() as conn:
        repo = IngestRepository(conn)
        identity_ids = repo.identities([c.post for c in batch])
        authors = {
            (c.post.network, c.post.external_id): (
                repo.ts(c.post.created_at),
                identity_ids[(c.post.network, c.post.author_id)],
                False,
            )
            for c in batch
        }
        return repo.insert_posts(batch, authors, None)


def test_ids_of_rows_another_writer_stored_first_are_looked_up(engine: Engine) -> None:
    first = _store(engine, [_post(1), _post(2, "a2")])
    # A second writer's batch overlaps: p2 is already there, p3 and its author are new.
    second = _store(engine, [_post(2, "a2"), _post(3, "a3")])
    assert second[("x", "p2")] == first[("x", "p2")]
    with engine.connect() as conn:
        stored = dict(conn.execute(select(Post.external_id, Post.id)).all())
        assert stored == {
            "p1": first[("x", "p1")],
            "p2": first[("x", "p2")],
            "p3": second[("x", "p3")],
        }
        assert conn.execute(select(func.count()).select_from(Identity)).scalar_one() == 3
        raw = conn.execute(select(Post.raw).where(Post.external_id == "p3")).scalar_one()
        assert raw == b'{"raw": true, "bytes": "\\u00e9"}'
        when = conn.execute(select(Post.created_at).where(Post.external_id == "p3")).scalar_one()
        assert when.replace(tzinfo=UTC) == datetime(2026, 11, 20, 10, 3, tzinfo=UTC)


def test_two_batches_in_one_transaction_do_not_mix(engine: Engine) -> None:
    """The PostgreSQL staging table is emptied before each use, not only at commit."""
    with engine.begin() as conn:
        repo = IngestRepository(conn)
        ids = {}
        for batch in ([_post(1)], [_post(2)]):
            identity_ids = repo.identities([c.post for c in batch])
            authors = {
                (c.post.network, c.post.external_id): (
                    repo.ts(c.post.created_at),
                    identity_ids[("x", "a1")],
                    False,
                )
                for c in batch
            }
            ids.update(repo.insert_posts(batch, authors, None))
    with engine.connect() as conn:
        assert dict(conn.execute(select(Post.external_id, Post.id)).all()) == {
            "p1": ids[("x", "p1")],
            "p2": ids[("x", "p2")],
        }
