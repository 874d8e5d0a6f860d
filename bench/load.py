"""`bench/run.py load`: simulated agents work the inbox over HTTP while posts arrive.

Three processes, as in a deployment on one box:

* the **server**: the real web app under uvicorn on a loopback port (what ``earful serve``
  runs), following the database for live updates;
* the **ingest**: the embedded pipeline (normalize → match → classify → thread → route →
  store) fed by the demo generator on a clock at ``rate`` posts/s — a replay generator;
  what has arrived is processed as one batch, as ``earful bench capacity`` does;
* the **agents** (this process): ``agents`` async HTTP clients, each logged in through the
  login form as its own user of the three demo brands, looping — open the inbox, open a
  conversation, search, sometimes reply (the form with its CSRF token and the version
  seen) — with a think time between pages (uniform, mean ``think_s``).

Replies go to the outbound queue and stay there: no outbound worker runs, so nothing leaves
the box. Latency is measured at the client: from sending the request to the whole answer.

Figures: p50/p95/p99 per page against a baseline taken in the same run on the same data
(the same pages, 1 agent, no think time, no ingest), request errors, posts offered against
posts stored (lost), the ingest's achieved rate and lag, and the server's peak RSS. The
soak (:mod:`bench.soak`) runs the same for minutes and samples memory.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import re
import socket
import sys
import tempfile
import time
import uuid
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import Engine, text

from bench.harness import Figure, Size, peak_rss_mb, rss_mb
from earful.db import make_engine, transaction

SECRET = "bench-load-secret-key-0123456789abcdef"
PASSWORD = "load-agent-password"
CHUNK = 20_000  # posts per generator seed: the generator's memory stays bounded
BATCH_WINDOW_S = 0.05  # the ingest waits for this much arrival time before a batch
HIST_MS = 300_000  # arrival → commit histogram, 1 ms buckets
TARGET_MS = 200.0
KINDS = ("inbox", "conversation", "search", "reply")
SEARCH_WORDS = (
    "bag",
    "flight",
    "signal",
    "roaming",
    "wifi",
    "cancel",
    "order",
    "app",
    "bill",
    "soup",
    "delivery",
    "outage",
)
CONV_LINK = re.compile(r'href="/c/(\d+)"')
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
VERSION_FIELD = re.compile(r'name="version" value="(\d+)"')


@dataclass(slots=True)
class Spec:
    agents: int
    rate: float
    seconds: float
    think_s: float = 5.0
    preload: int = 5000  # posts stored before the run, so the inbox has work in it
    baseline_cycles: int = 20
    reply_share: float = 0.25  # of cycles that end with a reply
    sample_s: float = 1.0
    # Every agent works all three brands: the inbox then orders the union by a computed
    # key (a sort of every open conversation) instead of walking one brand's index.
    all_brands: bool = False


SIZES: dict[Size, Spec] = {
    "quick": Spec(agents=3, rate=50, seconds=3, think_s=0.2, preload=300, baseline_cycles=2),
    "default": Spec(agents=200, rate=1000, seconds=60),
    "large": Spec(agents=200, rate=1000, seconds=300),
}


def with_options(
    spec: Spec,
    agents: int | None = None,
    rate: float | None = None,
    seconds: float | None = None,
    think_s: float | None = None,
    all_brands: bool | None = None,
) -> Spec:
    """The spec with what the command line set."""
    return replace(
        spec,
        all_brands=spec.all_brands if all_brands is None else all_brands,
        agents=spec.agents if agents is None else agents,
        rate=spec.rate if rate is None else rate,
        seconds=spec.seconds if seconds is None else seconds,
        think_s=spec.think_s if think_s is None else think_s,
    )


# ------------------------------------------------------------------ memory and CPU of a process


def cpu_s(pid: int | None = None) -> float:
    """CPU seconds (user + system) a process has used: another's from /proc, else our own."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def box_busy_s() -> float:
    """CPU seconds the whole machine has spent busy (all cores), from /proc/stat."""
    try:
        ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    busy = sum(ticks[:8]) - idle  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------ the database


@contextmanager
def fresh_database(url: str | None, tmp: Path) -> Iterator[str]:
    """A SQLite file in ``tmp``, or a fresh schema in the PostgreSQL database ``url``."""
    if not url:
        yield f"sqlite:///{tmp / 'load.db'}"
        return
    full = url.replace("postgresql://", "postgresql+psycopg://", 1)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(full)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in full else "?"
    try:
        yield f"{full}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def setup(url: str, agents: int, all_brands: bool = False) -> list[str]:
    """Migrate; the demo brands with their listening queries; one user per agent, an
    agent of one brand (or, ``all_brands``, of the three: their inbox merges three)."""
    from earful.auth.service import create_user, grant
    from earful.brands.service import create_brand
    from earful.demo.generate import brands_config
    from earful.listening.service import add_query
    from earful.migrate import upgrade
    from earful.models import Role, User

    engine = make_engine(url)
    upgrade(engine)
    emails = [f"agent{i}@load.example.org" for i in range(agents)]
    with transaction(engine) as session:
        brand_ids = []
        for cfg in brands_config():
            brand = create_brand(session, cfg["slug"], cfg["name"], cfg["keywords"], cfg["handles"])
            for name, query in cfg["queries"].items():
                add_query(session, brand.id, name, query)
            brand_ids.append(brand.id)
        first = create_user(session, emails[0], "Agent 0", PASSWORD, {brand_ids[0]: Role.AGENT})
        for i, email in enumerate(emails[1:], start=1):
            # The same password: one argon2 hash, not one per agent.
            user = User(email=email, name=f"Agent {i}", password_hash=first.password_hash)
            session.add(user)
            session.flush()
            # Each agent works one brand's inbox (round robin over the three), or all.
            for brand_id in brand_ids if all_brands else [brand_ids[i % len(brand_ids)]]:
                grant(session, user.id, brand_id, Role.AGENT)
        if all_brands:
            for brand_id in brand_ids[1:]:
                grant(session, first.id, brand_id, Role.AGENT)
    engine.dispose()
    return emails


def count(url: str, sql: str) -> int:
    engine = make_engine(url)
    with engine.connect() as conn:
        n = int(conn.execute(text(sql)).scalar() or 0)
    engine.dispose()
    return n


# ------------------------------------------------------------------ the server process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def native_memory() -> tuple[float, float, float]:
    """(SQLite's own allocations, malloc in use, malloc free but held) MB of this process;
    zeros where the libraries cannot be asked (not Linux with glibc and libsqlite3)."""
    import ctypes

    sqlite_mb = in_use = held = 0.0
    with suppress(OSError, AttributeError):
        lib = ctypes.CDLL("libsqlite3.so.0")  # the library the sqlite3 module uses
        cur, high = ctypes.c_int64(), ctypes.c_int64()
        if lib.sqlite3_status64(0, ctypes.byref(cur), ctypes.byref(high), 0) == 0:
            sqlite_mb = cur.value / 2**20

    class MallInfo2(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_size_t)
            for name in (
                "arena",
                "ordblks",
                "smblks",
                "hblks",
                "hblkhd",
                "usmblks",
                "fsmblks",
                "uordblks",
                "fordblks",
                "keepcost",
            )
        ]

    with suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None)
        libc.mallinfo2.restype = MallInfo2
        info = libc.mallinfo2()
        in_use = (info.uordblks + info.hblkhd) / 2**20
        held = info.fordblks / 2**20
    return sqlite_mb, in_use, held


def serve(url: str, port: int, memory: Any = None) -> None:
    """The web app as ``earful serve`` runs it (SIGTERM stops it). ``memory``, a shared
    array of 3 doubles, receives :func:`native_memory` every second."""
    import threading

    from earful.web import server
    from earful.web.app import create_app

    def watch() -> None:
        while True:
            memory[:] = native_memory()
            time.sleep(1.0)

    if memory is not None:
        threading.Thread(target=watch, daemon=True).start()
    app = create_app(make_engine(url), secret_key=SECRET, secure_cookies=False)
    # Idle connections stay open longer than an agent thinks (uvicorn's default is 5 s): a
    # browser retries a request raced by the server closing the connection; httpx does not.
    config = server.config(app, "127.0.0.1", port, access_log=False, timeout_keep_alive=75)
    server.Server(config).run()


# ------------------------------------------------------------------ the ingest process


def feed(seed: int) -> Iterator[Any]:
    """Demo posts without end, ``CHUNK`` per seed (external ids carry the seed)."""
    from earful.connectors.wire import parse_post_json
    from earful.demo.generate import generate

    while True:
        for doc in generate(seed=seed, posts=CHUNK):
            yield parse_post_json(orjson.dumps(doc))
        seed += 1


def autoanalyze(engine: Engine) -> list[str]:
    """PostgreSQL: ANALYZE the tables autovacuum would (rows changed ≥ 50 + 10 %).

    A deployment runs autovacuum; a shared test server may not (this project's has it off),
    and a young database planned from empty-table statistics slows the ingest and the pages
    more with every batch. Nothing on SQLite."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        grown = [
            str(name)
            for (name,) in conn.execute(
                text(
                    "SELECT relname FROM pg_stat_user_tables "
                    "WHERE schemaname = current_schema() "
                    "AND n_mod_since_analyze >= 50 + 0.1 * n_live_tup"
                )
            )
        ]
        for name in grown:
            conn.execute(text(f'ANALYZE "{name}"'))
    return grown


def _percentile(hist: array[int], total: int, q: float) -> float:
    if not total:
        return 0.0
    want, seen = q * total, 0
    for ms, n in enumerate(hist):
        seen += n
        if n and seen >= want:
            return float(ms)
    return float(len(hist) - 1)


def ingest(
    url: str,
    rate: float,
    seconds: float,
    preload: int,
    every: float,
    drain_s: float,
    go: Any,
    out: Any,
) -> None:
    """Preload, say ready, wait for ``go``; then offer ``rate * seconds`` posts on a clock."""
    from itertools import islice

    from earful.connectors.base import Batch
    from earful.pipeline.runner import IngestSummary, Pipeline

    engine = make_engine(url)
    pipeline = Pipeline(engine)
    warm = feed(1_000_000)
    while preload > 0:
        take = list(islice(warm, min(preload, 1000)))
        with engine.begin() as conn:
            pipeline.process(conn, Batch(posts=take), origin="load-preload")
        preload -= len(take)
    del warm
    autoanalyze(engine)
    out.put({"ready": True, "rss_mb": rss_mb(os.getpid())[0]})
    go.wait()
    posts = feed(2_000_000)
    n = max(1, int(rate * seconds))
    total = IngestSummary()
    hist = array("I", bytes(4 * (HIST_MS + 1)))
    before = dict(pipeline.stage_seconds)
    i, done, max_lag, last_report = 0, 0.0, 0.0, 0.0
    t0 = time.perf_counter()
    while i < n:
        now = time.perf_counter() - t0
        if now > seconds + drain_s:
            break  # the backlog would not drain: what is left is reported as unprocessed
        if now - last_report >= every:
            last_report = now
            autoanalyze(engine)
            lag = max(0.0, now - i / rate)
            out.put({"t": now, "processed": i, "lag_s": lag, "rss_mb": rss_mb(os.getpid())[0]})
        arrived = min(n, int(now * rate) + 1)
        want = min(n, i + max(1, int(rate * BATCH_WINDOW_S)))  # a connector reads in batches
        if arrived < want:
            time.sleep(max(0.0, min(0.05, (want - 1) / rate - now)))
            continue
        take = list(islice(posts, min(arrived, i + 5000) - i))
        with engine.begin() as conn:
            total.add(pipeline.process(conn, Batch(posts=take), origin="load"))
        done = time.perf_counter() - t0
        for j in range(i, i + len(take)):
            hist[min(HIST_MS, int((done - j / rate) * 1000))] += 1
        max_lag = max(max_lag, done - (i + len(take) - 1) / rate)
        i += len(take)
    spent = {k: v - before.get(k, 0.0) for k, v in pipeline.stage_seconds.items()}
    engine.dispose()
    out.put(
        {
            "final": True,
            "offered": n,
            "processed": i,
            "ingested": total.ingested,
            "unmatched": total.unmatched,
            "duplicates": total.duplicates,
            "dead_lettered": total.dead_lettered,
            "seconds": done,
            "p50_ms": _percentile(hist, i, 0.50),
            "p99_ms": _percentile(hist, i, 0.99),
            "final_lag_s": max(0.0, done - (n - 1) / rate) if i == n else float("inf"),
            "max_lag_s": max_lag,
            "stage_seconds": spent,
            "rss_mb": rss_mb(os.getpid()),
        }
    )


# ------------------------------------------------------------------ the agents


@dataclass(slots=True)
class Tally:
    ms: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    errors: Counter[str] = field(default_factory=Counter)
    replies: int = 0
    started: float = 0.0  # perf_counter when the agents began
    # (seconds since ``started`` at the answer, ms, index in KINDS) of every request.
    stamps: array[float] = field(default_factory=lambda: array("d"))


class Agent:
    """One person at a browser: a cookie jar, a CSRF token, what they last saw."""

    def __init__(self, base: str, email: str, seed: int) -> None:
        self.email = email
        self.client = httpx.AsyncClient(
            base_url=base, timeout=60, limits=httpx.Limits(max_connections=1)
        )
        self.rng = random.Random(seed)

    async def login(self) -> None:
        page = await self.client.get("/login")
        token = CSRF_FIELD.search(page.text)
        assert token, "no CSRF token on the login page"
        r = await self.client.post(
            "/login",
            data={"email": self.email, "password": PASSWORD, "csrf_token": token.group(1)},
        )
        assert r.status_code == 303, f"login of {self.email} answered {r.status_code}"

    async def timed(
        self, tally: Tally, kind: str, method: str, url: str, expect: int = 200, **kw: Any
    ) -> httpx.Response | None:
        t0 = time.perf_counter()
        try:
            r = await self.client.request(method, url, **kw)
        except httpx.HTTPError as exc:
            tally.errors[f"{kind}: {type(exc).__name__}"] += 1
            return None
        end = time.perf_counter()
        tally.ms[kind].append((end - t0) * 1000)
        tally.stamps.extend((end - tally.started, (end - t0) * 1000, KINDS.index(kind)))
        if r.status_code != expect:
            tally.errors[f"{kind}: HTTP {r.status_code}"] += 1
            return None
        return r

    async def work(
        self, tally: Tally, until: float, think_s: float, reply_share: float, cycles: int = 0
    ) -> None:
        """Cycles of inbox → conversation → search (→ reply) until ``until`` (or ``cycles``)."""

        async def think() -> bool:
            if think_s:
                await asyncio.sleep(think_s * self.rng.uniform(0.5, 1.5))
            return time.perf_counter() < until

        if think_s:  # agents do not all start at the same instant
            await asyncio.sleep(self.rng.uniform(0, think_s))
        done = 0
        while time.perf_counter() < until and (not cycles or done < cycles):
            done += 1
            view: httpx.Response | None = None
            page = await self.timed(tally, "inbox", "GET", "/inbox")
            ids = CONV_LINK.findall(page.text) if page is not None else []
            if not await think():
                break
            if ids:
                conv = self.rng.choice(ids)
                view = await self.timed(tally, "conversation", "GET", f"/c/{conv}")
                if not await think():
                    break
            word = self.rng.choice(SEARCH_WORDS)
            await self.timed(tally, "search", "GET", "/inbox", params={"q": word})
            if not ids or view is None or self.rng.random() >= reply_share:
                if not await think():
                    break
                continue
            version = VERSION_FIELD.search(view.text)
            csrf = CSRF_FIELD.search(view.text)
            if not await think():
                break
            if version and csrf:
                form = {
                    "text": f"Thanks for telling us, we are on it ({self.email}).",
                    "version": version.group(1),
                    "csrf_token": csrf.group(1),
                }
                sent = await self.timed(
                    tally, "reply", "POST", f"/c/{conv}/reply", expect=303, data=form
                )
                tally.replies += sent is not None
            if not await think():
                break

    async def close(self) -> None:
        await self.client.aclose()


async def _login_all(agents: list[Agent], parallel: int = 8) -> None:
    gate = asyncio.Semaphore(parallel)

    async def one(a: Agent) -> None:
        async with gate:
            await a.login()

    await asyncio.gather(*(one(a) for a in agents))


# ------------------------------------------------------------------ one run


@dataclass(slots=True)
class Sample:
    t: float
    server_mb: float
    ingest_mb: float
    processed: int
    lag_s: float
    # Inside the server: SQLite's allocations, and malloc's bytes in use / free but held.
    server_native: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(slots=True)
class Outcome:
    spec: Spec
    backend: str
    baseline: Tally
    load: Tally
    ingest: dict[str, Any]
    stored: int  # posts in the database after the run, minus those before it
    replies_stored: int
    samples: list[Sample]
    server_peak_mb: float  # the high-water mark, logins included
    # Cores used while the agents worked, per process; and the box's load average.
    cpu: dict[str, float]
    disk_mb: dict[str, float]  # SQLite: the database file and its write-ahead log at the end
    wall_s: float

    @property
    def server_sampled_peak_mb(self) -> float:
        return max((s.server_mb for s in self.samples), default=0.0)


def _wait_http(base: str, proc: SpawnProcess, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.is_alive():
            raise RuntimeError(f"the server exited with {proc.exitcode}")
        with suppress(httpx.HTTPError):
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError("the server did not answer in time")


def _get(queue: Any, timeout: float, proc: SpawnProcess) -> dict[str, Any]:
    import queue as queue_mod

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg: dict[str, Any] = queue.get(timeout=1)
            return msg
        except queue_mod.Empty:
            if not proc.is_alive():
                raise RuntimeError(f"the ingest exited with {proc.exitcode}") from None
    raise RuntimeError("no word from the ingest in time")


def run_once(
    spec: Spec, database: str | None = None, progress: Callable[[str], None] | None = None
) -> Outcome:
    say = progress or (lambda _msg: None)
    ctx = multiprocessing.get_context("spawn")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, fresh_database(database, Path(tmp)) as url:
        emails = setup(url, max(1, spec.agents), spec.all_brands)
        posts_before_sql = "SELECT count(*) FROM posts"
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        queue = ctx.Queue()
        go = ctx.Event()
        drain_s = max(30.0, spec.seconds / 2)
        feeder = ctx.Process(
            target=ingest,
            args=(url, spec.rate, spec.seconds, spec.preload, 5.0, drain_s, go, queue),
            daemon=True,
        )
        memory = ctx.Array("d", 3, lock=False)
        server = ctx.Process(target=serve, args=(url, port, memory), daemon=True)
        feeder.start()
        server.start()
        try:
            say(f"preloading {spec.preload:,} posts, starting the server")
            _wait_http(base, server)
            _get(queue, 600, feeder)  # preloaded
            posts_before = count(url, posts_before_sql)
            replies_before = count(url, "SELECT count(*) FROM replies")
            say(f"baseline: 1 agent, {spec.baseline_cycles} cycles, no ingest")
            baseline, load, samples, final, cpu = asyncio.run(
                _drive(spec, base, emails, server, feeder, go, queue, memory, say)
            )
            server_peak = rss_mb(server.pid or 0)[1]
            stored = count(url, posts_before_sql) - posts_before
            replies = count(url, "SELECT count(*) FROM replies") - replies_before
            disk = {f.name: f.stat().st_size / 2**20 for f in sorted(Path(tmp).glob("load.db*"))}
        finally:
            for proc in (server, feeder):
                if proc.is_alive():
                    proc.terminate()
                proc.join(30)
                if proc.is_alive():
                    proc.kill()
                    proc.join()
            queue.close()
    return Outcome(
        spec=spec,
        backend="PostgreSQL" if database else "SQLite",
        baseline=baseline,
        load=load,
        ingest=final,
        stored=stored,
        replies_stored=replies,
        samples=samples,
        server_peak_mb=server_peak,
        cpu=cpu,
        disk_mb=disk,
        wall_s=time.perf_counter() - started,
    )


async def _drive(
    spec: Spec,
    base: str,
    emails: list[str],
    server: SpawnProcess,
    feeder: SpawnProcess,
    go: Any,
    queue: Any,
    memory: Any,
    say: Callable[[str], None],
) -> tuple[Tally, Tally, list[Sample], dict[str, Any], dict[str, float]]:
    import queue as queue_mod

    # Baseline: the same pages, one agent, back to back, nothing arriving.
    solo = Agent(base, emails[0], seed=0)
    await solo.login()
    baseline = Tally()
    await solo.work(Tally(), time.perf_counter() + 60, 0, 1.0, cycles=1)  # warm-up
    await solo.work(baseline, time.perf_counter() + 600, 0, 1.0, cycles=spec.baseline_cycles)
    await solo.close()
    agents = [Agent(base, e, seed=i + 1) for i, e in enumerate(emails[: spec.agents])]
    say(f"logging in {len(agents)} agents")
    await _login_all(agents)
    load = Tally()
    samples: list[Sample] = []
    last: dict[str, Any] = {"processed": 0, "lag_s": 0.0}
    final: dict[str, Any] = {}

    def drain_queue() -> None:
        while True:
            try:
                msg = queue.get_nowait()
            except queue_mod.Empty:
                return
            if msg.get("final"):
                final.update(msg)
            elif "processed" in msg:
                last.update(msg)

    say(f"{len(agents)} agents for {spec.seconds:g} s while {spec.rate:g} posts/s arrive")
    go.set()
    t0 = load.started = time.perf_counter()
    procs = {"server": server.pid, "ingest": feeder.pid, "agents": None}
    cpu0 = {name: cpu_s(pid) for name, pid in procs.items()}
    box0 = box_busy_s()  # the box may be shared: what others used shows here
    until = t0 + spec.seconds
    work = [
        asyncio.create_task(a.work(load, until, spec.think_s, spec.reply_share)) for a in agents
    ]
    next_print = t0 + 60
    while time.perf_counter() < until or not all(t.done() for t in work):
        await asyncio.sleep(spec.sample_s)
        drain_queue()
        s = Sample(
            t=time.perf_counter() - t0,
            server_mb=rss_mb(server.pid or 0)[0],
            ingest_mb=rss_mb(feeder.pid or 0)[0],
            processed=int(last["processed"]),
            lag_s=float(last["lag_s"]),
            server_native=(memory[0], memory[1], memory[2]),
        )
        samples.append(s)
        if time.perf_counter() >= next_print:
            next_print += 60
            say(
                f"t={s.t:,.0f}s server {s.server_mb:,.0f} MB, ingest {s.ingest_mb:,.0f} MB, "
                f"{s.processed:,} posts processed, lag {s.lag_s:.1f} s"
            )
    await asyncio.gather(*work)
    took = time.perf_counter() - t0
    cpu = {name: (cpu_s(pid) - cpu0[name]) / took for name, pid in procs.items()}
    cpu["other processes"] = max(0.0, (box_busy_s() - box0) / took - sum(cpu.values()))
    for a in agents:
        await a.close()
    say("agents done; waiting for the ingest to finish its backlog")
    while not final:
        if not feeder.is_alive():
            drain_queue()
            if not final:
                raise RuntimeError(f"the ingest exited with {feeder.exitcode}")
            break
        await asyncio.sleep(0.5)
        drain_queue()
    return baseline, load, samples, final, cpu


# ------------------------------------------------------------------ figures


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def page_figures(o: Outcome, suite: str, judge: bool) -> list[Figure]:
    agents = f"{o.spec.agents} agents" + (" of all 3 brands" if o.spec.all_brands else "")
    where = f"{agents}, {o.spec.rate:,g} posts/s, {o.backend}"
    figures = []
    every_load = [ms for kind in KINDS for ms in o.load.ms[kind]]
    every_base = [ms for kind in KINDS for ms in o.baseline.ms[kind]]
    for kind, values, base in [
        *((k, o.load.ms[k], o.baseline.ms[k]) for k in KINDS),
        ("all pages", every_load, every_base),
    ]:
        p50, p95, p99 = (pct(values, q) for q in (0.50, 0.95, 0.99))
        extra = f"; {o.load.replies:,} sent to the queue" if kind == "reply" else ""
        figures.append(
            Figure(
                suite=suite,
                name=f"{kind} p95 (p50 {p50:,.0f}, p99 {p99:,.0f} ms; {where}{extra})",
                value=p95,
                unit="ms",
                baseline=pct(base, 0.95) if base else None,
                target=f"p95 <= {TARGET_MS:.0f} ms",
                n=len(values),
                spread=(p99 - p50) / p50 if p50 else 0.0,
                higher_is_better=False,
                peak_rss_mb=o.server_peak_mb,
                passed=(p95 <= TARGET_MS) if judge and values else None,
            )
        )
    return figures


def lost(o: Outcome) -> int:
    f = o.ingest
    accounted = o.stored + int(f["unmatched"]) + int(f["duplicates"]) + int(f["dead_lettered"])
    return int(f["offered"]) - accounted


def common_figures(o: Outcome, suite: str, judge: bool) -> list[Figure]:
    f = o.ingest
    requests = sum(len(v) for v in o.load.ms.values()) + sum(
        n for k, n in o.load.errors.items() if "HTTP" not in k
    )
    errors = sum(o.load.errors.values())
    kinds = ", ".join(f"{k} ×{n}" for k, n in o.load.errors.most_common(4)) or "none"
    missing = lost(o)
    unprocessed = int(f["offered"]) - int(f["processed"])
    rate = f["processed"] / f["seconds"] if f["seconds"] else 0.0
    return [
        Figure(
            suite=suite,
            name=f"request errors ({kinds})",
            value=errors,
            unit="errors",
            target="0",
            n=requests,
            higher_is_better=False,
            passed=errors == 0 if judge else None,
        ),
        Figure(
            suite=suite,
            name=(
                f"posts lost (offered {f['offered']:,}, stored {o.stored:,}, not about a brand "
                f"{f['unmatched']:,}, duplicates {f['duplicates']:,}, unprocessed {unprocessed:,})"
            ),
            value=missing,
            unit="posts",
            target="0",
            n=int(f["offered"]),
            higher_is_better=False,
            passed=missing == 0 if judge else None,
        ),
        Figure(
            suite=suite,
            name=(
                f"ingest rate achieved (arrival → commit p50 {f['p50_ms']:,.0f} ms, "
                f"p99 {f['p99_ms']:,.0f} ms; lag at end {f['final_lag_s']:.2f} s, "
                f"max {f['max_lag_s']:.2f} s)"
            ),
            value=rate,
            unit="posts/s",
            baseline=o.spec.rate,
            target=f">= {o.spec.rate:,g} posts/s offered",
            n=int(f["processed"]),
            peak_rss_mb=f["rss_mb"][1],
            passed=rate >= 0.98 * o.spec.rate and f["final_lag_s"] <= 2.0 if judge else None,
        ),
    ]


def rss_figure(o: Outcome, suite: str) -> Figure:
    server = [s.server_mb for s in o.samples]
    return Figure(
        suite=suite,
        name=(
            f"server peak RSS under load (start {server[0] if server else 0:,.0f} MB, "
            f"end {server[-1] if server else 0:,.0f} MB; high-water mark with the "
            f"{o.spec.agents} logins {o.server_peak_mb:,.0f} MB)"
        ),
        value=o.server_sampled_peak_mb,
        unit="MB",
        n=len(server),
        higher_is_better=False,
        peak_rss_mb=o.server_peak_mb,
    )


def cpu_figure(o: Outcome, suite: str) -> Figure:
    used = {k: v for k, v in o.cpu.items() if k != "other processes"}
    parts = ", ".join(f"{name} {n:.2f}" for name, n in used.items())
    others = o.cpu.get("other processes", 0.0)
    return Figure(
        suite=suite,
        name=(
            f"CPU cores used under load ({parts}; other processes on this "
            f"{os.cpu_count()}-core box {others:.2f})"
        ),
        value=sum(used.values()),
        unit="cores",
        higher_is_better=False,
        peak_rss_mb=peak_rss_mb(),
    )


def _say(msg: str) -> None:
    sys.stderr.write(f"[load] {msg}\n")
    sys.stderr.flush()


def run(
    size: Size,
    database: str | None = None,
    agents: int | None = None,
    rate: float | None = None,
    seconds: float | None = None,
    think: float | None = None,
    all_brands: bool | None = None,
) -> list[Figure]:
    spec = with_options(SIZES[size], agents, rate, seconds, think, all_brands)
    o = run_once(spec, database, None if size == "quick" else _say)
    judge = size != "quick"
    return [
        *page_figures(o, "load", judge),
        *common_figures(o, "load", judge),
        rss_figure(o, "load"),
        cpu_figure(o, "load"),
    ]
