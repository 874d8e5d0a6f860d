"""Runs connector batches through the stages and stores each batch in one transaction."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import Connection, Engine, select

from earful.alerts.service import Windows, count_batch, detect_spikes, merge_windows
from earful.connectors.base import Batch, Connector
from earful.listening.compiler import paused_gc
from earful.listening.service import build_matcher
from earful.models import Brand
from earful.models.base import utcnow
from earful.models.customer import erasure_key, marker_keys
from earful.pipeline import changes, private, second_tier, stages
from earful.pipeline.repository import IngestRepository, lock_ingest
from earful.pipeline.schema import PostIn, Rejected
from earful.pipeline.second_tier import Relabeler, default_relabeler
from earful.pipeline.stages import BrandAccounts, Classifier, Matcher


@dataclass(slots=True)
class IngestSummary:
    read: int = 0
    ingested: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    skipped: int = 0
    unmatched: int = 0
    new_conversations: int = 0
    erased: int = 0  # posts of erased customers, not stored again
    edited: int = 0  # stored posts whose text the network's edit replaced
    deleted: int = 0  # stored posts the network deleted (redacted)
    # (brand, conversation id, post id) of what arrived, for live views.
    events: list[tuple[int, int, int]] = field(default_factory=list)
    # Windows counted but not yet judged by the spike detector (see ``Pipeline.process``).
    windows: Windows = field(default_factory=dict)

    def add(self, other: IngestSummary) -> None:
        self.read += other.read
        self.ingested += other.ingested
        self.duplicates += other.duplicates
        self.dead_lettered += other.dead_lettered
        self.skipped += other.skipped
        self.unmatched += other.unmatched
        self.new_conversations += other.new_conversations
        self.erased += other.erased
        self.edited += other.edited
        self.deleted += other.deleted
        merge_windows(self.windows, other.windows)


def brand_accounts(conn: Connection) -> BrandAccounts:
    owners: dict[tuple[str, str], int] = {}
    for brand_id, handles in conn.execute(select(Brand.id, Brand.handles)):
        for network, names in (handles or {}).items():
            for name in [names] if isinstance(names, str) else names:
                owners[(network, str(name).lstrip("@").lower())] = brand_id
    return BrandAccounts(owners)


def default_matcher(conn: Connection) -> Matcher:
    """Every brand's enabled listening queries (else its keywords) and @mentions, compiled."""
    return build_matcher(conn)


ANALYZE_EVERY_S = 2.0  # PostgreSQL: how often a long ingest looks for tables that doubled


def default_classifier() -> Classifier:
    """The shipped understanding models (heads load on the first batch), else no labels."""
    from earful.understanding.models import default_classifier as shipped_or_null

    return shipped_or_null()


class Pipeline:
    """normalize → match → classify → thread → route, then one write per batch."""

    def __init__(
        self,
        engine: Engine,
        matcher: Matcher | None = None,
        classifier: Classifier | None = None,
        second_tier: Relabeler | Literal[False] | None = None,
    ) -> None:
        """``second_tier``: None follows the setting (``EARFUL_SECOND_TIER``), False is off."""
        self.engine = engine
        with engine.connect() as conn:
            self.matcher = matcher or default_matcher(conn)
            self.accounts = brand_accounts(conn)
        self.classifier = classifier or default_classifier()
        self.second_tier = default_relabeler() if second_tier is None else second_tier or None
        # Seconds spent per stage since start: the capacity planner names the bottleneck.
        self.stage_seconds: defaultdict[str, float] = defaultdict(float)

    def process(
        self,
        conn: Connection,
        batch: Batch,
        origin: str,
        source_id: int | None = None,
        source_brand: int | None = None,
        *,
        detect: bool = True,
        identities: dict[tuple[str, str], int] | None = None,
    ) -> IngestSummary:
        """Run one batch through the stages and write it on ``conn`` (the caller commits).

        ``detect=False`` counts the batch for the spike detector but leaves judging the
        windows to the caller (``summary.windows``, for ``detect_spikes`` after the commit:
        workers keep it out of their serialized step). ``identities`` are authors already
        found or created, by (network, author id).
        """
        # A batch allocates many small objects and frees them all at the end: the cyclic
        # collector would rescan the whole heap several times per batch for nothing.
        with paused_gc():
            out = self._process(
                conn, batch, origin, source_id, source_brand, detect, identities or {}
            )
            if batch.edited or batch.deleted:
                self._changes(conn, batch, out, origin, source_id, source_brand, detect)
        # Addressed to the brand: no listening rule, no spike count. The brand's own
        # messages (an echo of an answer) are not a customer's.
        private = [m for m in batch.private if self.accounts.owner_of(m) is None]
        out.skipped += len(batch.private) - len(private)
        if private:
            _store_private(conn, private, origin, source_brand, out)
        return out

    def after_commit(self, summary: IngestSummary) -> int:
        """The second tier, once the batch is stored: returns the posts it relabeled."""
        if self.second_tier is None or not summary.events:
            return 0
        with _timed(self.stage_seconds, "second_tier"):
            return second_tier.relabel(
                self.engine, [post for _, _, post in summary.events], self.second_tier
            )

    def _changes(
        self,
        conn: Connection,
        batch: Batch,
        out: IngestSummary,
        origin: str,
        source_id: int | None,
        source_brand: int | None,
        detect: bool,
    ) -> None:
        """The network's edits and deletions, after the batch's new posts (an edit or a
        delete of a post created in the same batch finds it stored)."""
        now = utcnow()
        if batch.edited:
            found = changes.apply_edits(conn, batch.edited, self.classifier, now)
            out.edited = len(found)
            # An edit of a post never heard is the post as it reads now.
            unheard = [p for p in batch.edited if (p.network, p.external_id) not in found]
            if unheard:
                late = self._process(
                    conn, Batch(posts=unheard), origin, source_id, source_brand, detect, {}
                )
                out.add(late)
                out.events.extend(late.events)
        if batch.deleted:
            out.deleted = changes.apply_deletions(conn, batch.deleted, now)

    @staticmethod
    def _without_erased(
        repo: IngestRepository, posts: list[PostIn], out: IngestSummary
    ) -> list[PostIn]:
        keys = {
            p: (
                erasure_key("author", p.network, p.author_id),
                erasure_key("post", p.network, p.external_id),
            )
            for p in posts
        }
        erased = repo.erased(k for pair in keys.values() for k in pair)
        if not erased:
            return posts
        kept = [p for p in posts if not (set(keys[p]) & erased)]
        out.erased += len(posts) - len(kept)
        return kept

    @staticmethod
    def _rejected_without_erased(
        repo: IngestRepository, rejected: list[Rejected], out: IngestSummary
    ) -> list[Rejected]:
        tokens = {r: marker_keys(r.raw) for r in rejected}
        erased = repo.erased(k for keys in tokens.values() for k in keys)
        if not erased:
            return rejected
        kept = [r for r in rejected if not (tokens[r] & erased)]
        out.erased += len(rejected) - len(kept)
        return kept

    def _process(
        self,
        conn: Connection,
        batch: Batch,
        origin: str,
        source_id: int | None,
        source_brand: int | None,
        detect: bool,
        identities: dict[tuple[str, str], int],
    ) -> IngestSummary:
        repo = IngestRepository(conn)
        # Before reading tombstones and threads: an erasure beside this batch waits for it,
        # or this batch for the erasure (see customers.erasure).
        lock_ingest(conn)
        clock = self.stage_seconds
        out = IngestSummary(read=len(batch.posts) + len(batch.rejected), skipped=batch.skipped)
        with _timed(clock, "normalize"):
            posts, rejected = stages.normalize(batch.posts)
            rejected = [*batch.rejected, *(_named(r) for r in rejected)]
            if rejected and repo.any_erased():  # nor a bad record that names one
                rejected = self._rejected_without_erased(repo, rejected, out)
            out.dead_lettered = repo.dead_letters(origin, rejected)

            # An erased customer's account or post never comes back (a replay, a late event).
            if repo.any_erased():
                posts = self._without_erased(repo, posts, out)
            # Idempotence: a post already stored (or twice in this batch) is a duplicate.
            seen = repo.existing_posts((p.network, p.external_id) for p in posts)
            fresh = []
            for p in posts:
                key = (p.network, p.external_id)
                if key in seen:
                    out.duplicates += 1
                else:
                    seen.add(key)
                    fresh.append(p)

        with _timed(clock, "match"):
            matched = stages.match(fresh, self.matcher, self.accounts, source_brand)
            parents, selves = stages.link_keys(fresh)
            index = repo.thread_links(parents, selves)
            matched = stages.follow_threads(matched, index)
        with _timed(clock, "classify"):
            classified = stages.classify(matched, self.classifier)
        out.unmatched = len(fresh) - len(classified)
        if not classified:
            return out
        with _timed(clock, "thread"):
            repo.open_conversations(stages.customer_keys(classified), index)
            plan = stages.thread(classified, index)
        with _timed(clock, "route"):
            brand_of = {n.key: n.brand_id for n in plan.new_conversations}
            for convs in index.parent_convs.values():
                brand_of.update((conv, brand) for brand, conv in convs.items())
            for children in index.child_convs.values():
                brand_of.update((conv, brand) for brand, conv in children)
            brand_of.update((conv, brand) for (brand, _, _), conv in index.open_convs.items())
            routing = stages.route(classified, plan, index, brand_of)

        with _timed(clock, "store"):
            identity_ids = repo.identities([c.post for c in classified], identities)
            authors = {
                (c.post.network, c.post.external_id): (
                    repo.ts(c.post.created_at),
                    identity_ids[(c.post.network, c.post.author_id)],
                    bool(c.own_brand_ids),
                )
                for c in classified
            }
            post_ids = repo.insert_posts(classified, authors, source_id)
            conv_ids = repo.apply_threads(plan, routing, post_ids, authors)
            out.windows = count_batch(conn, classified)
            if detect:  # spike alerts over what is now stored
                detect_spikes(conn, out.windows)
                out.windows = {}
        out.ingested = len(classified)
        out.new_conversations = len(plan.new_conversations)
        out.events = [
            (brand, conv_ids.get(conv, conv), post_ids[post])
            for brand, conv, post in routing.events
        ]
        return out

    def ingest(
        self,
        connector: Connector,
        brand_id: int | None = None,
        from_start: bool = False,
        on_batch: Callable[[Batch, IngestSummary], None] | None = None,
    ) -> IngestSummary:
        """Read the connector from its stored cursor; each batch and its cursor commit together."""
        total = IngestSummary()
        origin = connector.source_name
        with self.engine.begin() as conn:
            source_id, cursor = IngestRepository(conn).source(origin, connector.name, brand_id)
        postgres = self.engine.dialect.name == "postgresql"
        next_analyze = time.monotonic() + ANALYZE_EVERY_S
        for batch in connector.read(None if from_start else cursor):
            with self.engine.begin() as conn:
                result = self.process(conn, batch, origin, source_id, brand_id)
                IngestRepository(conn).save_cursor(source_id, batch.cursor)
            self.after_commit(result)
            if postgres and time.monotonic() >= next_analyze:
                # A bulk load outgrows the planner's statistics faster than autovacuum
                # refreshes them (the workers do the same; see analyze_grown).
                from earful.worker.repository import analyze_grown

                with self.engine.begin() as conn:
                    analyze_grown(conn)
                next_analyze = time.monotonic() + ANALYZE_EVERY_S
            total.add(result)
            if on_batch:
                on_batch(batch, result)
        with self.engine.begin() as conn:
            IngestRepository(conn).set_status(source_id, "idle")
        return total


@contextmanager
def _timed(clock: defaultdict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        clock[stage] += time.perf_counter() - start


def _store_private(
    conn: Connection,
    messages: list[PostIn],
    origin: str,
    brand_id: int | None,
    out: IngestSummary,
) -> None:
    out.read += len(messages)
    try:
        got = private.store(conn, messages, brand_id)
    except private.NoBrand as exc:
        out.dead_lettered += IngestRepository(conn).dead_letters(
            origin, private.rejected_for(messages, str(exc))
        )
        return
    out.ingested += got.stored
    out.duplicates += got.duplicates
    out.erased += got.erased
    out.events.extend(got.events)


def _named(rejected: Rejected) -> Rejected:
    """Rejected by a stage: name the post, since the line number is the connector's."""
    return Rejected(f"post {rejected.position}", rejected.reason, rejected.raw)
