"""Inbox latency on generated data: first page, a filtered page, full-text search (p95 ms),
on SQLite and (given ``database``, a PostgreSQL URL) on PostgreSQL; and the live figure:
p99 from a post being ingested to its event reaching an open SSE subscriber.

Each page request goes through the whole app (HTTP in process, access check, SQL,
template). Baselines, same run and same data: the page as it was queried before the
state row carried the status (filter on ``conversations``, order by the priority computed
at query time), and search by ``LIKE '%word%'`` instead of the full-text index. The SSE
figure has no baseline and is judged on its value: its p99 is the server's poll of the
database (every 0.25 s) plus one query, so it hardly moves with the host's speed. (Its
former baseline, the in-process publish of 1–5 ms, made a ratio of noise: 180 % spread.)

Page latencies: after a warm-up call of each and a garbage collection, 300 page requests
(default size) are timed with the old query's calls spread evenly among them (as many as
12 s allow, up to 300 of the old page; 10 of the LIKE scan, which costs ~1 s), so a slower
stretch of the host hits subject and baseline alike. The figure is the p95 of the requests,
interpolated between ranks; its spread is that of the p95s of each third of the requests,
i.e. how far the p95 moves within the run. Its ratio is how much faster a typical call is
(``Latencies.speedup``: each old call over the page calls around it, the median of that):
the ratio of the two p95s is decided by a few slow calls on each side and moved by 10–20 %
between runs on the same data, a ratio of typical calls by 1–6 %. The requests are timed in
a fresh process with a fixed hash seed (:func:`~bench.harness.isolated`), not
in the bench process that carries the earlier suites' heap.

Data is generated with set-based SQL inside the database (no ORM, no Python loop per
row): ``large`` is 1,000,000 conversations / 10,000,000 posts.
"""

from __future__ import annotations

import gc
import re
import signal
import socket
import statistics
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import Connection, Engine, text

from bench.harness import (
    Figure,
    Size,
    isolated,
    peak_rss_mb,
    percentile,
    spread,
)
from earful.auth.service import create_user
from earful.brands.service import create_brand
from earful.db import make_engine, transaction
from earful.migrate import upgrade
from earful.models import Role
from earful.models.search import sqlite_bulk_indexing

SIZES = {"quick": 300, "default": 100_000, "large": 1_000_000}  # conversations
POSTS_PER_CONVERSATION = 10
# Page requests timed per figure (~10–40 ms each), and calls of the old query interleaved
# with them: as many as fit in the budget (the old page, ~25 ms, gets as many as the
# subject; the LIKE scan, ~0.15 s on PostgreSQL, ~80), at least the floor (the LIKE scan
# on SQLite, ~1.5 s at default and ~1.5 min at large size), spread evenly.
REPEAT = {"quick": 10, "default": 300, "large": 300}
BASELINE_REPEAT = {
    "page": {"quick": 4, "default": 60, "large": 20},
    "search": {"quick": 3, "default": 10, "large": 3},
}
BASELINE_BUDGET_S = {"quick": 0.5, "default": 12.0, "large": 12.0}
BLOCKS = 3  # spread of a p95: of the p95s of the first, second and last third of the samples
SSE_SAMPLES = {"quick": 10, "default": 100, "large": 100}
VOCABULARY = 2000  # word i is drawn with probability ~ ln(VOCABULARY / i) / VOCABULARY
SEARCH = "w20 w40"  # two mid-frequency words, both required
PASSWORD = "benchmark-password"
TARGET_MINUTES = 60
STATUSES = ("new", "open", "waiting", "resolved")
NETWORKS = ("bluesky", "mastodon")
SENTIMENTS = ("negative", "neutral", "positive")
INTENTS = ("complaint", "question", "compliment")


# ------------------------------------------------------------------ generation


def _rnd(dialect: str, n: int) -> str:
    """A uniform random integer in [0, n) as SQL, fresh per row."""
    if dialect == "postgresql":
        return f"floor(random() * {n})::int"
    return f"(abs(random()) % {n})"


def _pick(dialect: str, values: tuple[str, ...]) -> str:
    cases = " ".join(f"WHEN {i} THEN '{v}'" for i, v in enumerate(values))
    return f"(CASE {_rnd(dialect, len(values))} {cases} END)"


def _series(dialect: str, n: int) -> str:
    if dialect == "postgresql":
        return f"generate_series(1, {n}) AS s(i)"
    return (
        "(WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g "
        f"WHERE i < {n}) SELECT i FROM g) AS s"
    )


def _ago(dialect: str, minutes_sql: str) -> str:
    """A timestamp ``minutes_sql`` minutes before the bench's fixed 'now'."""
    if dialect == "postgresql":
        return f"(TIMESTAMPTZ '{NOW_SQL}' - ({minutes_sql}) * INTERVAL '1 minute')"
    return f"datetime('{NOW_SQL}', '-' || ({minutes_sql}) || ' minutes')"


NOW = datetime.now(UTC).replace(microsecond=0)
NOW_SQL = NOW.strftime("%Y-%m-%d %H:%M:%S")


def generate(engine: Engine, conversations: int, posts_per: int = POSTS_PER_CONVERSATION) -> int:
    """Fill a migrated, empty database; returns the brand id. Set-based SQL only."""
    with transaction(engine) as s:
        brand = create_brand(s, "bench", "Bench Air", target_response_minutes=TARGET_MINUTES)
        create_user(s, "bench@example.org", "Bench", PASSWORD, {brand.id: Role.AGENT})
        brand_id = brand.id
    dialect = engine.dialect.name

    def r(n: int) -> str:
        return _rnd(dialect, n)

    with engine.begin() as conn:
        conn.execute(text("CREATE TEMPORARY TABLE bench_words (i INTEGER PRIMARY KEY, w TEXT)"))
        conn.execute(
            text("INSERT INTO bench_words (i, w) VALUES (:i, :w)"),
            [{"i": i, "w": f"w{i}"} for i in range(VOCABULARY)],
        )
        # Per conversation: how long ago it started (minutes), and its labels.
        conn.execute(
            text(
                "CREATE TEMPORARY TABLE bench_convs AS SELECT i AS id, "
                f"{r(60 * 24 * 30)} + {posts_per} AS age, "
                f"{_pick(dialect, STATUSES)} AS status, {_pick(dialect, NETWORKS)} AS network, "
                f"{_pick(dialect, SENTIMENTS)} AS sentiment, {_pick(dialect, INTENTS)} AS intent, "
                f"{r(4)} AS urgency, {r(1000)} / 1000.0 AS sscore, {r(2)} AS waiting "
                f"FROM {_series(dialect, conversations)}"
            )
        )
        conn.execute(
            text(
                "INSERT INTO identities "
                "(id, network, external_id, handle, display_name, created_at) "
                f"SELECT id, network, 'a' || id, 'user' || id, 'User ' || id, {_ago(dialect, '0')} "
                "FROM bench_convs"
            )
        )
        conn.execute(
            text(
                "INSERT INTO conversations (id, brand_id, identity_id, status, subject, "
                "first_post_at, last_post_at, post_count, created_at) "
                f"SELECT id, {brand_id}, id, status, 'conversation ' || id, "
                f"{_ago(dialect, 'age')}, "
                f"{_ago(dialect, f'age - {posts_per - 1}')}, {posts_per}, {_ago(dialect, 'age')} "
                "FROM bench_convs"
            )
        )
        pick = f"{r(VOCABULARY)} % (1 + {r(VOCABULARY)})"
        if dialect == "postgresql":
            word = f"wa.a[1 + {pick}]"
            words_from = " CROSS JOIN (SELECT array_agg(w ORDER BY i) AS a FROM bench_words) wa"
        else:  # correlated (c.id), so SQLite draws a word per row
            word = f"(SELECT w FROM bench_words WHERE i = c.id * 0 + {pick})"
            words_from = ""
        body = " || ' ' || ".join([word] * 8)
        with sqlite_bulk_indexing(conn):  # the text indexed once, not row by row
            for k in range(posts_per):
                conn.execute(
                    text(
                        "INSERT INTO posts (id, network, external_id, identity_id, text, language, "
                        "created_at, ingested_at, from_brand, sentiment, sentiment_score, intent, "
                        "urgency) "
                        f"SELECT (c.id - 1) * {posts_per} + {k + 1}, c.network, "
                        f"'p' || c.id || '-{k}', c.id, {body}, 'en', "
                        f"{_ago(dialect, f'c.age - {k}')}, {_ago(dialect, '0')}, "
                        f"{'TRUE' if k % 3 == 1 else 'FALSE'}, "
                        f"{_pick(dialect, SENTIMENTS)}, {r(1000)} / 1000.0, "
                        f"{_pick(dialect, INTENTS)}, {r(4)} FROM bench_convs c{words_from}"
                    )
                )
                conn.execute(
                    text(
                        "INSERT INTO conversation_posts (conversation_id, post_id) "
                        f"SELECT id, (id - 1) * {posts_per} + {k + 1} FROM bench_convs"
                    )
                )
        # The triage state as refresh_states would write it (score and key of priority.py).
        score = "(0.75 * urgency + CASE WHEN sentiment = 'negative' THEN sscore ELSE 0 END)"
        epoch = (
            f"EXTRACT(EPOCH FROM {_ago(dialect, 'age - 1')})"
            if dialect == "postgresql"
            else f"CAST(strftime('%s', {_ago(dialect, 'age - 1')}) AS REAL)"
        )
        conn.execute(
            text(
                "INSERT INTO conversation_states (conversation_id, brand_id, status, version, "
                "seen_post_count, network, language, sentiment, sentiment_score, intent, "
                "urgency, waiting_since, priority_key, updated_at) "
                f"SELECT id, {brand_id}, status, 1, {posts_per}, network, 'en', sentiment, "
                "sscore, intent, urgency, "
                f"CASE WHEN waiting = 1 THEN {_ago(dialect, 'age - 1')} END, "
                f"CASE WHEN waiting = 1 THEN {score} * {TARGET_MINUTES * 60.0} - {epoch} "
                f"ELSE -1.0e12 + {score} END, {_ago(dialect, '0')} FROM bench_convs"
            )
        )
        conn.execute(text("DROP TABLE bench_convs"))
        conn.execute(text("DROP TABLE bench_words"))
        if dialect == "postgresql":
            for table in ("identities", "conversations", "posts", "conversation_posts"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                    if table != "conversation_posts"
                    else text("SELECT 1")
                )
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    return brand_id


# ------------------------------------------------------------------ measuring


@dataclass(slots=True)
class Latencies:
    """Milliseconds per call, in the order they were taken."""

    subject: list[float]
    baseline: list[float]
    order: list[bool] = field(default_factory=list)  # True: a subject call (schedule)

    @property
    def p95(self) -> float:
        return percentile(self.subject, 95)

    @property
    def baseline_p95(self) -> float:
        return percentile(self.baseline, 95)

    @property
    def speedup(self) -> float:
        """How much faster a typical call is: the median, over the old query's calls, of
        each one's time over the median of the subject calls taken around it (its share
        of them, at least the one before and the one after).

        Not the ratio of the two medians: this host runs at full or about half speed in
        stretches of 0.1 s to seconds, and the medians only compare like with like when
        both sides took the same share of their calls in slow stretches - which 10 old
        calls (search) among 300 need not. Calls taken milliseconds apart share a stretch.
        In six runs of the three pages on one database, the two ratios agreed within 3 %.
        """
        if not self.order or not self.baseline:
            return statistics.median(self.baseline) / statistics.median(self.subject)
        before: list[int] = []  # subject calls taken before each baseline call
        taken = 0
        for is_subject in self.order:
            if is_subject:
                taken += 1
            else:
                before.append(taken)
        half = max(1, round(len(self.subject) / len(self.baseline) / 2))
        return statistics.median(
            b / statistics.median(self.subject[max(0, k - half) : k + half])
            for b, k in zip(self.baseline, before, strict=True)
        )

    @property
    def spread(self) -> float:
        """How far the p95 moves within the run: (max − min) / median of the p95s of
        ``BLOCKS`` consecutive slices of the subject's samples."""
        size = max(1, len(self.subject) // BLOCKS)
        blocks = [self.subject[i * size : (i + 1) * size] for i in range(BLOCKS)]
        return spread([percentile(b, 95) for b in blocks if b])


def schedule(n_subject: int, n_baseline: int) -> list[bool]:
    """The order of the calls: True for the subject, False for the baseline, each baseline
    call in the middle of its share of subject calls (300 and 10: one after the 15th, the
    45th, …, the 285th), so a slower or faster stretch of the host hits both alike."""
    due = sorted(max(1, int((j + 0.5) * n_subject / n_baseline)) for j in range(n_baseline))
    order: list[bool] = []
    k = 0
    for i in range(1, n_subject + 1):
        order.append(True)
        while k < len(due) and due[k] <= i:
            order.append(False)
            k += 1
    return order + [False] * (len(due) - k)


def latencies(
    subject: Callable[[], object],
    baseline: Callable[[], object],
    repeat: int,
    baseline_repeat: int,
    warmup_baseline: bool = True,
    baseline_budget_s: float | None = None,
) -> Latencies:
    """Time ``repeat`` subject calls with baseline calls interleaved, after a warm-up call
    of each and a full garbage collection. The baseline gets ``baseline_repeat`` calls, or,
    given a budget, as many as its warm-up call says fit in it (at least
    ``baseline_repeat``, at most ``repeat``): a p95 of 10 samples is their maximum, a noisy
    figure, so a cheap old query gets as many samples as the subject."""
    subject()
    if warmup_baseline:
        t0 = time.perf_counter()
        baseline()
        if baseline_budget_s is not None:
            per_call = max(time.perf_counter() - t0, 1e-6)
            baseline_repeat = max(baseline_repeat, min(repeat, int(baseline_budget_s / per_call)))
    gc.collect()
    out = Latencies([], [], schedule(repeat, baseline_repeat))
    for is_subject in out.order:
        fn, sink = (subject, out.subject) if is_subject else (baseline, out.baseline)
        t0 = time.perf_counter()
        fn()
        sink.append((time.perf_counter() - t0) * 1000)
    return out


def _login(c: object, base: str = "") -> None:
    page = c.get(f"{base}/login").text  # type: ignore[attr-defined]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    r = c.post(  # type: ignore[attr-defined]
        f"{base}/login",
        data={"email": "bench@example.org", "password": PASSWORD, "csrf_token": token.group(1)},
    )
    assert r.status_code in (200, 303), r.status_code


def _old_page(engine: Engine, search_like: str | None = None) -> Callable[[], object]:
    """The page as queried before: status on conversations, priority computed per row."""

    def call() -> object:
        with engine.connect() as conn:
            where = "c.status IN ('new', 'open')"
            if search_like:
                where += (
                    " AND c.id IN (SELECT cp.conversation_id FROM conversation_posts cp "
                    "JOIN posts p ON p.id = cp.post_id WHERE p.text LIKE :like)"
                )
            return conn.execute(
                text(
                    "SELECT c.id FROM conversations c JOIN conversation_states s "
                    "ON s.conversation_id = c.id JOIN brands b ON b.id = c.brand_id "
                    f"WHERE {where} ORDER BY (s.priority_key + :now) / "
                    "(b.target_response_minutes * 60.0) DESC LIMIT 51"
                ),
                {"now": time.time(), "like": f"%{search_like}%"},
            ).all()

    return call


def pages(url: str, size: Size, label: str) -> list[Figure]:
    """The page figures of the database at ``url``; run it through ``isolated``."""
    with warnings.catch_warnings():  # starlette asks for httpx2 instead of httpx, in stderr
        warnings.simplefilter("ignore", UserWarning)
        from fastapi.testclient import TestClient

    from earful.web.app import create_app

    n = SIZES[size]
    engine = make_engine(url)
    app = create_app(engine, secret_key="bench-secret-key-0123456789", live=False)
    c = TestClient(app, base_url="https://testserver")
    _login(c)

    def get(url: str) -> Callable[[], object]:
        def call() -> object:
            r = c.get(url)
            assert r.status_code == 200, r.status_code
            return r

        return call

    first_word = SEARCH.split()[0]
    figures = []
    for name, subject, baseline, kind, target in (
        ("first page", get("/inbox"), _old_page(engine), "page", 50.0),
        (
            "filtered page",
            get("/inbox?sentiment=negative&network=bluesky&intent=complaint"),
            _old_page(engine),
            "page",
            50.0,
        ),
        (
            "full-text search",
            get("/inbox?q=" + SEARCH.replace(" ", "+")),
            _old_page(engine, first_word),
            "search",
            150.0,
        ),
    ):
        lat = latencies(
            subject,
            baseline,
            REPEAT[size],
            BASELINE_REPEAT[kind][size],
            warmup_baseline=not (kind == "search" and size == "large"),  # ~1.5 min a call
            baseline_budget_s=BASELINE_BUDGET_S[size],
        )
        value = lat.p95
        figures.append(
            Figure(
                suite="inbox",
                name=f"{name} p95 ({n:,} conversations, {label})",
                value=value,
                unit="ms",
                baseline=lat.baseline_p95,
                target=f"p95 <= {target:.0f} ms",
                n=REPEAT[size],
                spread=lat.spread,
                higher_is_better=False,
                peak_rss_mb=peak_rss_mb(),
                passed=value <= target if size != "quick" else None,
                paired_ratio=lat.speedup,
            )
        )
    c.close()
    engine.dispose()
    return figures


# ------------------------------------------------------------------ live (SSE)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _new_post(conn: Connection, conv_id: int, post_id: int) -> None:
    """What the pipeline writes for a customer's new post in an existing conversation."""
    conn.execute(
        text(
            "INSERT INTO posts (id, network, external_id, identity_id, text, language, "
            "created_at, ingested_at, from_brand) SELECT :pid, 'bluesky', 'live' || :pid, "
            "identity_id, 'live post', 'en', :now, :now, FALSE FROM conversations WHERE id = :cid"
        ),
        {"pid": post_id, "cid": conv_id, "now": datetime.now(UTC)},
    )
    conn.execute(
        text("INSERT INTO conversation_posts (conversation_id, post_id) VALUES (:cid, :pid)"),
        {"cid": conv_id, "pid": post_id},
    )
    conn.execute(
        text(
            "UPDATE conversations SET post_count = post_count + 1, last_post_at = :now "
            "WHERE id = :cid"
        ),
        {"cid": conv_id, "now": datetime.now(UTC)},
    )


def sse_latency(engine: Engine, size: Size, label: str) -> Figure:
    """p99 ms from a post's commit (by another writer) to its event on an open /events."""
    from earful.web.app import create_app
    from earful.web.server import Server, config

    app = create_app(engine, secret_key="bench-secret-key-0123456789", secure_cookies=False)
    port = _free_port()
    server = Server(config(app, "127.0.0.1", port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 60
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    arrived: dict[str, float] = {}
    ready = threading.Event()
    stop = threading.Event()
    samples = SSE_SAMPLES[size]
    client = httpx.Client(timeout=30)
    try:
        _login(client, base)

        def listen() -> None:
            ttl = 30 + samples * 0.2  # ends on its own even if nobody closes it
            try:
                with client.stream("GET", f"{base}/events", params={"ttl": ttl}) as r:
                    event = ""
                    for line in r.iter_lines():
                        ready.set()
                        if stop.is_set():
                            return
                        if line.startswith("event:"):
                            event = line[6:].strip()
                        elif line.startswith("data:") and event == "inbox":
                            at = time.perf_counter()  # the data: each conversation touched
                            for conv_id in line[5:].strip().split(","):
                                arrived.setdefault(conv_id, at)
            except httpx.TransportError:
                if not stop.is_set():  # closing the client at the end cuts the stream
                    raise

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        ready.wait(10)
        with engine.connect() as conn:
            next_id = int(conn.execute(text("SELECT max(id) FROM posts")).scalar() or 0) + 1
        sent: dict[str, float] = {}
        for k in range(samples):
            conv = k + 1
            with engine.begin() as conn:
                _new_post(conn, conv, next_id + k)
            sent[str(conv)] = time.perf_counter()
            time.sleep(0.05)
        wait_until = time.perf_counter() + 5
        while time.perf_counter() < wait_until and not all(c in arrived for c in sent):
            time.sleep(0.02)
        tailed = sorted((arrived.get(c, float("inf")) - t0) * 1000 for c, t0 in sent.items())
    finally:
        stop.set()
        server.handle_exit(signal.SIGTERM, None)  # as `earful serve` stops: ends the stream
        thread.join(timeout=30)
        client.close()
        assert not thread.is_alive(), "the benchmark's server did not stop"

    def p99(values: list[float]) -> float:
        return values[max(0, round(0.99 * len(values)) - 1)]

    value = p99(tailed)
    return Figure(
        suite="inbox",
        name=f"new post → open SSE inbox p99 ({label}, post written by another connection)",
        value=value,
        unit="ms",
        target="p99 <= 1000 ms",
        n=samples,
        spread=(tailed[-1] - tailed[0]) / (tailed[len(tailed) // 2] or 1.0),
        higher_is_better=False,
        peak_rss_mb=peak_rss_mb(),
        passed=value <= 1000 if size != "quick" else None,
    )


# ------------------------------------------------------------------ the suite


def _empty_postgres(url: str) -> tuple[Engine, Callable[[], None]]:
    """A fresh schema in the given PostgreSQL database, dropped afterwards."""
    import uuid

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    full = url.replace("postgresql://", "postgresql+psycopg://", 1)
    sep = "&" if "?" in full else "?"
    engine = make_engine(f"{full}{sep}options=-csearch_path%3D{schema}")

    def drop() -> None:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return engine, drop


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def run(size: Size, database: str | None = None) -> list[Figure]:
    n = SIZES[size]
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'inbox.db'}")
        upgrade(engine)
        t0 = time.perf_counter()
        generate(engine, n)
        gen_s = time.perf_counter() - t0
        figures.append(
            Figure(
                suite="inbox",
                name=f"generate {n:,} conversations, {n * POSTS_PER_CONVERSATION:,} posts (SQLite)",
                value=gen_s,
                unit="s",
                higher_is_better=False,
                n=n,
            )
        )
        figures += isolated(pages, _url(engine), size, "SQLite")
        figures.append(sse_latency(engine, size, "SQLite"))
        engine.dispose()
    if database:
        pg, drop = _empty_postgres(database)
        try:
            upgrade(pg)
            t0 = time.perf_counter()
            generate(pg, n)
            figures.append(
                Figure(
                    suite="inbox",
                    name=f"generate {n:,} conversations (PostgreSQL, set-based SQL)",
                    value=time.perf_counter() - t0,
                    unit="s",
                    higher_is_better=False,
                    n=n,
                )
            )
            figures += isolated(pages, _url(pg), size, "PostgreSQL")
        finally:
            drop()
    return figures
