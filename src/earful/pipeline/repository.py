"""All SQL of the ingest path: batched lookups and writes on one connection.

Written in SQLAlchemy Core with executemany so one batch costs a fixed number of round
trips whatever its size; the same statements run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import Connection, Table, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from earful.models import (
    OPEN_STATUSES,
    Conversation,
    ConversationPost,
    ConversationStatus,
    DeadLetter,
    Identity,
    Post,
    Source,
)
from earful.models.base import utcnow
from earful.pipeline.schema import Classified, PostIn, Rejected
from earful.pipeline.stages import ConvKey, PostKey, RoutePlan, ThreadIndex, ThreadPlan

posts_t: Table = Post.__table__  # type: ignore[assignment]
identities_t: Table = Identity.__table__  # type: ignore[assignment]
conversations_t: Table = Conversation.__table__  # type: ignore[assignment]
members_t: Table = ConversationPost.__table__  # type: ignore[assignment]
dead_t: Table = DeadLetter.__table__  # type: ignore[assignment]
sources_t: Table = Source.__table__  # type: ignore[assignment]

POST_COLUMNS = (
    "network",
    "external_id",
    "identity_id",
    "source_id",
    "text",
    "language",
    "created_at",
    "ingested_at",
    "url",
    "reply_to_external_id",
    "quote_of_external_id",
    "repost_of_external_id",
    "from_brand",
    "raw",
    "sentiment",
    "sentiment_score",
    "intent",
    "intent_score",
    "urgency",
    "urgency_score",
    "model_version",
)
CONVERSATION_COLUMNS = (
    "brand_id",
    "identity_id",
    "status",
    "first_post_at",
    "last_post_at",
    "post_count",
    "created_at",
    "root_post_id",
)
CHUNK = 900  # keeps IN lists under every backend's bound-parameter limit


T = TypeVar("T")


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _by_network(keys: Iterable[PostKey]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for network, external_id in keys:
        grouped[network].append(external_id)
    return grouped


def _insert_ignore(conn: Connection, table: object, index: list[str]):  # type: ignore[no-untyped-def]
    """INSERT ... ON CONFLICT DO NOTHING for the connection's dialect."""
    maker = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    return maker(table).on_conflict_do_nothing(index_elements=index)  # type: ignore[arg-type]


class IngestRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"
        self._placeholder = "?" if self.sqlite else "%s"

    def ts(self, value: datetime) -> object:
        """A UTC time as the driver wants it (SQLite: SQLAlchemy's own text format)."""
        if self.sqlite:
            return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return value

    def _bulk_insert(
        self,
        table: Table,
        columns: Sequence[str],
        rows: list[tuple[object, ...]],
        conflict: Sequence[str],
    ) -> None:
        """executemany straight on the driver: the ingest hot path skips per-row compiling."""
        if not rows:
            return
        sql = (
            f"INSERT INTO {table.name} ({', '.join(columns)}) "
            f"VALUES ({', '.join([self._placeholder] * len(columns))}) "
            f"ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
        )
        self.conn.exec_driver_sql(sql, rows)

    # ------------------------------------------------------------ reads

    def _ids(self, table: Table, keys: Iterable[PostKey]) -> dict[PostKey, int]:
        """{(network, external id): id} of rows of ``table`` (posts or identities)."""
        ids: dict[PostKey, int] = {}
        for network, exts in _by_network(keys).items():
            for chunk in _chunks(exts):
                q = select(table.c.external_id, table.c.id).where(
                    table.c.network == network, table.c.external_id.in_(chunk)
                )
                ids.update(((network, ext), i) for ext, i in self.conn.execute(q))
        return ids

    def existing_posts(self, keys: Iterable[PostKey]) -> set[PostKey]:
        found: set[PostKey] = set()
        for network, ids in _by_network(keys).items():
            for chunk in _chunks(ids):
                rows = self.conn.execute(
                    select(posts_t.c.external_id).where(
                        posts_t.c.network == network, posts_t.c.external_id.in_(chunk)
                    )
                )
                found.update((network, r[0]) for r in rows)
        return found

    def thread_links(self, parents: set[PostKey], selves: set[PostKey]) -> ThreadIndex:
        """Conversations of stored parents, and of stored children of the batch's posts."""
        index = ThreadIndex()
        conv_cols = (
            members_t.c.conversation_id,
            conversations_t.c.brand_id,
            conversations_t.c.status,
            conversations_t.c.last_post_at,
        )
        for network, ids in _by_network(sorted(parents)).items():
            for chunk in _chunks(ids):
                q = (
                    select(posts_t.c.external_id, *conv_cols)
                    .select_from(posts_t)
                    .outerjoin(members_t, members_t.c.post_id == posts_t.c.id)
                    .outerjoin(conversations_t, conversations_t.c.id == members_t.c.conversation_id)
                    .where(posts_t.c.network == network, posts_t.c.external_id.in_(chunk))
                )
                for ext, conv, brand, status, last in self.conn.execute(q):
                    convs = index.parent_convs.setdefault((network, ext), {})
                    if conv is not None:
                        convs[brand] = conv
                        index.statuses[conv] = ConversationStatus(status)
                        index.last_post_at[conv] = last
        for network, ids in _by_network(sorted(selves)).items():
            for chunk in _chunks(ids):
                q = (
                    select(posts_t.c.reply_to_external_id, *conv_cols)
                    .select_from(posts_t)
                    .join(members_t, members_t.c.post_id == posts_t.c.id)
                    .join(conversations_t, conversations_t.c.id == members_t.c.conversation_id)
                    .where(
                        posts_t.c.network == network,
                        posts_t.c.reply_to_external_id.in_(chunk),
                    )
                )
                for parent, conv, brand, status, last in self.conn.execute(q):
                    index.child_convs.setdefault((network, parent), []).append((brand, conv))
                    index.statuses[conv] = ConversationStatus(status)
                    index.last_post_at[conv] = last
        for key, children in index.child_convs.items():
            index.child_convs[key] = sorted(set(children))
        return index

    def open_conversations(self, customers: set[tuple[int, str, str]], index: ThreadIndex) -> None:
        """Fill ``index.open_convs``: each customer's open conversation with each brand."""
        wanted: dict[tuple[str, str], set[int]] = defaultdict(set)
        for brand, network, author in customers:
            wanted[(network, author)].add(brand)
        by_net: dict[str, list[str]] = defaultdict(list)
        for network, author in wanted:
            by_net[network].append(author)
        for network, authors in by_net.items():
            for chunk in _chunks(authors):
                q = (
                    select(
                        identities_t.c.external_id,
                        conversations_t.c.brand_id,
                        conversations_t.c.id,
                        conversations_t.c.status,
                        conversations_t.c.last_post_at,
                    )
                    .join(conversations_t, conversations_t.c.identity_id == identities_t.c.id)
                    .where(
                        identities_t.c.network == network,
                        identities_t.c.external_id.in_(chunk),
                        conversations_t.c.status.in_([s.value for s in OPEN_STATUSES]),
                    )
                    .order_by(conversations_t.c.last_post_at.desc(), conversations_t.c.id.desc())
                )
                for author, brand, conv, status, last in self.conn.execute(q):
                    if brand in wanted[(network, author)]:
                        # Newest open conversation wins (first row per key).
                        index.open_convs.setdefault((brand, network, author), conv)
                        index.statuses.setdefault(conv, ConversationStatus(status))
                        index.last_post_at.setdefault(conv, last)

    # ------------------------------------------------------------ writes

    def identities(self, posts: Sequence[PostIn]) -> dict[tuple[str, str], int]:
        """Upsert the authors; returns {(network, author id): identity id}."""
        rows: dict[tuple[str, str], tuple[object, ...]] = {}
        now = self.ts(utcnow())
        for p in posts:
            key = (p.network, p.author_id)
            if key not in rows:
                rows[key] = (p.network, p.author_id, p.author_handle, p.author_name, now)
        if not rows:
            return {}
        self._bulk_insert(
            identities_t,
            ("network", "external_id", "handle", "display_name", "created_at"),
            list(rows.values()),
            ("network", "external_id"),
        )
        return self._ids(identities_t, rows)

    def insert_posts(
        self,
        batch: Sequence[Classified],
        identity_ids: dict[tuple[str, str], int],
        source_id: int | None,
    ) -> dict[PostKey, int]:
        now = self.ts(utcnow())
        ts = self.ts
        rows: list[tuple[object, ...]] = []
        for c in batch:
            p = c.post
            lab = c.labels
            rows.append(
                (
                    p.network,
                    p.external_id,
                    identity_ids[(p.network, p.author_id)],
                    source_id,
                    p.text,
                    # The detector's answer, unless it is unsure and the network says.
                    p.language
                    if lab.language in (None, "unknown") and p.language
                    else lab.language,
                    ts(p.created_at),
                    now,
                    p.url,
                    p.reply_to,
                    p.quote_of,
                    p.repost_of,
                    bool(c.own_brand_ids),
                    p.raw,
                    lab.sentiment,
                    lab.sentiment_score,
                    lab.intent,
                    lab.intent_score,
                    lab.urgency,
                    lab.urgency_score,
                    c.model_version,
                )
            )
        if not rows:
            return {}
        self._bulk_insert(posts_t, POST_COLUMNS, rows, ("network", "external_id"))
        return self._ids(posts_t, [(c.post.network, c.post.external_id) for c in batch])

    def apply_threads(
        self,
        plan: ThreadPlan,
        routing: RoutePlan,
        post_ids: dict[PostKey, int],
        authors: dict[PostKey, tuple[datetime, int, bool]],
    ) -> dict[ConvKey, int]:
        """Create, merge and fill conversations; returns {plan key: conversation id}.

        ``authors`` gives each batch post's (time, identity id, written by the brand).
        New conversations hold only batch posts, so their counts and times are known here;
        existing ones touched by the batch are recounted in SQL.
        """
        members_of: dict[ConvKey, list[PostKey]] = defaultdict(list)
        for post, conv in plan.members:
            members_of[conv].append(post)
        ids: dict[ConvKey, int] = {}
        if plan.new_conversations:
            now = self.ts(utcnow())
            rows: list[tuple[object, ...]] = []
            roots: dict[tuple[int, int], ConvKey] = {}
            for n in plan.new_conversations:
                posts = sorted(members_of[n.key], key=lambda k: authors[k][0])
                customer = next((authors[k][1] for k in posts if not authors[k][2]), None)
                root = post_ids[n.first_post]
                roots[(n.brand_id, root)] = n.key
                rows.append(
                    (
                        n.brand_id,
                        customer or authors[posts[0]][1],
                        routing.statuses.get(n.key, ConversationStatus.NEW).value,
                        self.ts(authors[posts[0]][0]),
                        self.ts(authors[posts[-1]][0]),
                        len(posts),
                        now,
                        root,
                    )
                )
            self._bulk_insert(
                conversations_t, CONVERSATION_COLUMNS, rows, ("brand_id", "root_post_id")
            )
            for chunk in _chunks(sorted({root for _, root in roots})):
                q = select(
                    conversations_t.c.brand_id, conversations_t.c.root_post_id, conversations_t.c.id
                ).where(conversations_t.c.root_post_id.in_(chunk))
                for brand, root, cid in self.conn.execute(q):
                    if (brand, root) in roots:
                        ids[roots[(brand, root)]] = cid
        for old, into in plan.merges:
            self.conn.execute(
                update(members_t)
                .where(members_t.c.conversation_id == old)
                .values(conversation_id=into)
            )
            self.conn.execute(conversations_t.delete().where(conversations_t.c.id == old))

        def real(key: ConvKey) -> int:
            return ids[key] if key < 0 else key

        self._bulk_insert(
            members_t,
            ("conversation_id", "post_id"),
            [(real(conv), post_ids[post]) for post, conv in plan.members],
            ("conversation_id", "post_id"),
        )
        existing = {conv for _, conv in plan.members if conv > 0}
        self._refresh(sorted(existing | {into for _, into in plan.merges}))
        changed = [
            {"cid": conv, "st": status.value}
            for conv, status in routing.statuses.items()
            if conv > 0
        ]
        if changed:
            self.conn.execute(
                update(conversations_t)
                .where(conversations_t.c.id == bindparam("cid"))
                .values(status=bindparam("st")),
                changed,
            )
        return ids

    def _refresh(self, conversation_ids: Sequence[int]) -> None:
        """Recompute post count and first/last post times from the members."""
        for chunk in _chunks(conversation_ids):
            agg = (
                select(
                    members_t.c.conversation_id.label("cid"),
                    func.count().label("n"),
                    func.min(posts_t.c.created_at).label("first"),
                    func.max(posts_t.c.created_at).label("last"),
                )
                .join(posts_t, posts_t.c.id == members_t.c.post_id)
                .where(members_t.c.conversation_id.in_(chunk))
                .group_by(members_t.c.conversation_id)
            )
            rows = {
                cid: {"cid": cid, "n": n, "first": first, "last": last}
                for cid, n, first, last in self.conn.execute(agg)
            }
            # The customer is the author of the earliest post not written by the brand.
            starters = (
                select(members_t.c.conversation_id, posts_t.c.identity_id)
                .join(posts_t, posts_t.c.id == members_t.c.post_id)
                .where(members_t.c.conversation_id.in_(chunk), posts_t.c.from_brand.is_(False))
                .order_by(
                    members_t.c.conversation_id.desc(),
                    posts_t.c.created_at.desc(),
                    posts_t.c.id.desc(),
                )
            )
            customer = {cid: identity for cid, identity in self.conn.execute(starters)}
            if not rows:
                continue
            self.conn.execute(
                update(conversations_t)
                .where(conversations_t.c.id == bindparam("cid"))
                .values(
                    post_count=bindparam("n"),
                    first_post_at=bindparam("first"),
                    last_post_at=bindparam("last"),
                ),
                list(rows.values()),
            )
            if customer:
                self.conn.execute(
                    update(conversations_t)
                    .where(conversations_t.c.id == bindparam("cid"))
                    .values(identity_id=bindparam("ident")),
                    [{"cid": c, "ident": i} for c, i in customer.items()],
                )

    def dead_letters(self, origin: str, rejected: Sequence[Rejected]) -> int:
        """Keep bad input with its reason; re-reading the same bad line adds nothing."""
        if not rejected:
            return 0
        rows = [
            {
                "origin": origin[:500],
                "position": r.position[:100],
                "reason": r.reason,
                "raw": r.raw,
                "created_at": utcnow(),
            }
            for r in rejected
        ]
        self.conn.execute(_insert_ignore(self.conn, dead_t, ["origin", "position"]), rows)
        return len(rows)

    # ------------------------------------------------------------ sources

    def source(self, name: str, kind: str, brand_id: int | None) -> tuple[int, str | None]:
        """Find or create a source; returns (id, stored cursor)."""
        self.conn.execute(
            _insert_ignore(self.conn, sources_t, ["name"]),
            [
                {
                    "name": name,
                    "kind": kind,
                    "brand_id": brand_id,
                    "config": {},
                    "status": "idle",
                    "updated_at": utcnow(),
                }
            ],
        )
        row = self.conn.execute(
            select(sources_t.c.id, sources_t.c.cursor).where(sources_t.c.name == name)
        ).one()
        return row[0], row[1]

    def save_cursor(self, source_id: int, cursor: str | None) -> None:
        self.conn.execute(
            update(sources_t)
            .where(sources_t.c.id == source_id)
            .values(cursor=cursor, status="running", updated_at=utcnow())
        )

    def set_status(self, source_id: int, status: str, reason: str | None = None) -> None:
        self.conn.execute(
            update(sources_t)
            .where(sources_t.c.id == source_id)
            .values(status=status, status_reason=reason, updated_at=utcnow())
        )
