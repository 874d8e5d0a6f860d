"""ETA: is the expected first-response time that the desk publishes honest?

A day of demo traffic is replayed in *simulated* time (nothing sleeps): the customers'
posts of :mod:`earful.demo.generate` (its own brand answers left out) go through the
pipeline one at a time at their ``created_at``, and simulated agents answer them. At
each conversation's first customer post the suite records the ETA the desk would publish
at that moment, :func:`earful.engagement.acknowledge.brand_expectation` against the
database as it stands then, and compares it, once the conversation is answered, with
the actual first-response time.

The desk: the three demo brands in ``Europe/London`` (UTC in November), each open every
day for its own :data:`TEAMS` hours (set with :func:`~earful.engagement.acknowledge.set_hours`)
and staffed by a fixed number of agents. An agent, while the brand is open, takes the
top waiting conversation of the brand's inbox (:func:`earful.inbox.repository.inbox_page`,
highest priority first) that no colleague holds, spends a handling time on it and
answers. In the replay the target is for, agents answer at the measured rate
(:data:`SERVICE_MEDIAN` minutes each). A second replay of the same desk draws each
handling time from a seeded log-normal distribution of the same median
(:data:`VARIED_SIGMA`) and is scored the same way, against no target: there an answer's
own length is unknowable when the ETA is published, and a forecast that knew when an
agent takes each conversation still misses by ~50 % at p90. An answer is written as the
outbound worker stores a sent reply (the brand's post added to the conversation, the
state refreshed; :meth:`~earful.engagement.worker.OutboundWorker._sent`),
dated at the simulated moment, so ``waiting_count`` and ``response_samples`` see it. An
agent finishes the conversation in hand at closing time and takes no other until the
brand opens again. The demo's traffic does not sleep, so every night leaves a backlog
and every first post after closing gets a "back at" promise.

The replay runs a warm-up stretch first (answered, not measured: the ETA needs recent
first responses), then the measured stretch; customers keep writing after it until every
conversation first seen in the measured stretch has its answer. The corpus starts on a
Monday at 06:00 UTC: by default a day of warm-up, then Tuesday 06:00 to Wednesday 06:00
(with Skyward's 45-minute outage burst at noon) is measured; ``--quick`` warms up for 10
hours and measures 16:00-22:00 on Monday (two of the brands close in it) with one
customer thread in four and a quarter of the agents (rounded up); ``--large`` measures
two days. Every brand keeps the default target response time (60 minutes).

Figures, over those conversations: median and p90 of |published − actual| in seconds,
the median and p90 of |published − actual| / actual (target ≤ 25 %) for all of them,
the p90 for those that wrote in service hours and for those that wrote out of hours, and
the share answered by the published time. The ETA is the conversation's place in the
triage queue divided by the pace the agents kept while every hand was busy, plus one
handling time, in working time, rounded up to the minute
(:meth:`earful.engagement.acknowledge.Desk.for_key`). The baseline, on the same replay:
the previous brand-wide estimator (:func:`legacy_answer_by`, commit 047abb0). Three
reference figures stand alone: quoting the brand's target in service hours (what a desk
says without measuring anything), and two floors: a forecast that knew the actual answer
time and rounded it up to the minute as a promise is, and one that knew when an agent
takes the conversation but not how long the answer takes (the median handling time).
"Published" is ``answer_by`` − the post's time, so the rounding counts.
"""

from __future__ import annotations

import heapq
import math
import random
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

import orjson
from sqlalchemy import Engine

from bench.harness import Figure, Size, peak_rss_mb, percentile
from earful.brands.service import create_brand
from earful.connectors.base import Batch
from earful.connectors.wire import parse_post_json
from earful.conversations import repository as conversations_repo
from earful.db import make_engine, transaction
from earful.demo.generate import START, brands_config, generate
from earful.engagement import acknowledge, hours
from earful.engagement import repository as engagement_repo
from earful.inbox.repository import InboxQuery, inbox_page
from earful.migrate import upgrade
from earful.models import Brand, Conversation, ConversationState
from earful.pipeline.runner import Pipeline
from earful.pipeline.schema import PostIn

SUITE = "eta"
SEED = 7
TZ = "Europe/London"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ORIGIN = "bench:eta"
SERVICE_MEDIAN = 4.0  # minutes an agent takes to answer one conversation (median)
# The second replay's spread of handling times, of their logarithm: p10 ~2.1 min, p90
# ~7.6 min, mean ~4.5 min. The first replay's agents keep the measured rate (spread 0).
VARIED_SIGMA = 0.5
VARIED = f"handling varies, log-normal sigma {VARIED_SIGMA:g}"
TARGET = 25.0  # %: p90 of |published - actual| / actual
KNOWS_PICK = (
    "floor: p90 relative error knowing when an agent takes it, not how long the answer "
    "takes (median handling)"
)
MEAN_GAP_S = 47.5  # the demo generator's mean seconds between two events


@dataclass(frozen=True, slots=True)
class Team:
    slug: str
    opens: str
    closes: str
    agents: int

    @property
    def spans(self) -> dict[str, list[list[str]]]:
        return {day: [[self.opens, self.closes]] for day in DAYS}


# Each brand gets ~430 new conversations a day around the clock (~560 waiting spells
# with the follow-ups): the agents can answer about 1.3-1.5 times that in their hours.
TEAMS = (
    Team("skyward", "07:00", "23:00", 4),
    Team("brightline", "08:00", "20:00", 5),
    Team("loafladle", "09:00", "18:00", 6),
)


@dataclass(frozen=True, slots=True)
class Replay:
    """Hours of warm-up and of measurement from the corpus's start (Monday 06:00 UTC);
    ``share``: one customer thread in ``share`` is replayed, with as many agents."""

    warmup_h: float
    measured_h: float
    share: int = 1
    sigma: float = 0.0  # spread of the log of the handling time (0: the measured rate)


SIZES = {
    "quick": Replay(warmup_h=10, measured_h=6, share=4),
    "default": Replay(warmup_h=24, measured_h=24),
    "large": Replay(warmup_h=24, measured_h=48),
}


@dataclass(slots=True)
class Quote:
    """One conversation's first customer post: what was published, and what happened."""

    brand_id: int
    at: datetime
    published: float  # minutes from the post to the published answer_by
    naive: float  # minutes from the post to the brand's target in service hours
    old: float  # minutes from the post to the previous estimator's answer_by
    open_now: bool
    actual: float | None = None  # minutes from the post to the brand's first answer
    picked: float = 0.0  # minutes from the post to an agent taking it (the bench knows)

    @property
    def oracle(self) -> float:
        """The actual answer time, rounded up to the minute as a promise is."""
        assert self.actual is not None
        answered = self.at + timedelta(minutes=self.actual)
        return minutes(self.at, hours._ceil(answered))


@dataclass(slots=True)
class Agent:
    brand_id: int
    holds: int | None = None  # the conversation being answered


@dataclass(slots=True)
class Outcome:
    quotes: list[Quote]
    posts: int  # customer posts replayed
    answers: int  # brand answers written
    unanswered: int  # measured conversations still waiting when the corpus ran out
    slugs: dict[int, str] = field(default_factory=dict)  # brand id -> slug
    agents: dict[str, int] = field(default_factory=dict)  # slug -> agents


def quarter(at: datetime) -> datetime:
    """Up to the next quarter hour, as the previous estimator rounded its promise."""
    base = at.replace(second=0, microsecond=0)
    extra = (base.minute % 15 and 15 - base.minute % 15) or 0
    rounded = base + timedelta(minutes=extra)
    return rounded if rounded >= at else rounded + timedelta(minutes=15)


def legacy_answer_by(
    h: hours.Hours,
    now: datetime,
    waiting: int,
    samples: list[tuple[datetime, datetime]],
    target: int,
    window: timedelta = timedelta(days=14),
) -> datetime:
    """The previous estimator (commit 047abb0), kept as the baseline: one brand-wide
    figure, the larger of the p80 of recent first responses in working minutes and
    every waiting conversation divided by first answers per staffed minute, rounded
    up to the quarter hour."""
    recent = [(a, b) for a, b in samples if now - window <= b <= now]
    durations = [hours.working_minutes(h, a, b) for a, b in recent]
    measured = hours.percentile(durations, 0.8) if len(durations) >= 5 else None
    covered = max(now - window, min((a for a, _ in recent), default=now - window))
    staffed = hours.working_minutes(h, covered, now)
    rate = len(recent) / staffed if staffed > 0 and len(recent) >= 5 else None
    backlog = waiting / rate if rate else None
    candidates = [m for m in (measured, backlog) if m is not None]
    due = hours.add_working(h, now, max(candidates) if candidates else float(target))
    assert due is not None
    return quarter(due)


def minutes(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 60


def customer_posts(until: datetime, share: int, seed: int = SEED) -> list[PostIn]:
    """The demo corpus's customer posts before ``until``, in time order, parsed as the
    JSONL connector parses them. The generator's own brand answers are left out (the
    simulated agents answer instead) and a follow-up to one of them replies to the
    customer's post it answered. With ``share`` > 1, one thread in ``share``."""
    count = int((until - START).total_seconds() / MEAN_GAP_S * 1.1) + 200
    docs = list(generate(seed, count))
    parent = {d["id"]: d.get("reply_to") for d in docs}
    brand_posts = {d["id"] for d in docs if d.get("from_brand")}
    out: list[PostIn] = []
    for doc in docs:
        if doc["id"] in brand_posts:
            continue
        to = doc.get("reply_to")
        while to in brand_posts:
            to = parent.get(to)
        root = doc["id"]
        while parent.get(root) is not None:
            root = parent[root]
        if share > 1 and int(root.rsplit("-", 1)[1]) % share:
            continue
        post = parse_post_json(orjson.dumps({**doc, "reply_to": to}))
        if post.created_at < until:
            out.append(post)
    out.sort(key=lambda p: (p.created_at, p.external_id))
    return out


class Desk:
    """The simulated desk on a migrated database: brands, hours, agents, and the clock."""

    def __init__(self, engine: Engine, share: int, sigma: float = 0.0, seed: int = SEED) -> None:
        self.engine = engine
        self.rng = random.Random(seed)
        self.sigma = sigma
        self.events: list[tuple[datetime, int, str, int]] = []
        self.seq = 0
        self.brand_ids: dict[str, int] = {}
        with transaction(engine) as s:
            for cfg in brands_config():
                made = create_brand(s, cfg["slug"], cfg["name"], cfg["keywords"], cfg["handles"])
                self.brand_ids[cfg["slug"]] = made.id
            for team in TEAMS:
                acknowledge.set_hours(s, self.brand_ids[team.slug], timezone=TZ, spans=team.spans)
        with transaction(engine) as s:
            self.hours = {
                bid: hours.parse(st.timezone, st.hours)
                for bid in self.brand_ids.values()
                for st in [engagement_repo.settings(s, bid)]
            }
            self.targets = {
                bid: brand.target_response_minutes
                for bid in self.brand_ids.values()
                if (brand := s.get(Brand, bid)) is not None
            }
        self.agents = [
            Agent(self.brand_ids[team.slug])
            for team in TEAMS
            for _ in range(math.ceil(team.agents / share))
        ]
        self.idle: dict[int, set[int]] = {bid: set() for bid in self.brand_ids.values()}
        self.held: set[int] = set()
        self.answers = 0
        self.first_answer: dict[int, datetime] = {}
        self.first_pick: dict[int, datetime] = {}
        self.pipeline = Pipeline(engine)

    def push(self, at: datetime, kind: str, data: int) -> None:
        self.seq += 1
        heapq.heappush(self.events, (at, self.seq, kind, data))

    # ---------------------------------------------------------------- customers

    def arrive(self, post: PostIn) -> list[tuple[int, int]]:
        """Ingest one post through the pipeline and refresh its conversations' states as
        the inbox's live tail does; the (brand, conversation) pairs it touched."""
        with self.engine.begin() as conn:
            out = self.pipeline.process(conn, Batch([post]), ORIGIN, detect=False)
        touched = sorted({(b, c) for b, c, _ in out.events})
        if touched:
            with transaction(self.engine) as s:
                conversations_repo.refresh_states(s, [c for _, c in touched])
        return touched

    def quote(self, brand_id: int, conv_id: int, now: datetime) -> Quote:
        """What the desk would tell this conversation's customer now (its auto-
        acknowledgement), beside the old brand-wide estimate and the bare target."""
        with transaction(self.engine) as s:
            d = acknowledge.desk(s, brand_id, now)
            state = s.get(ConversationState, conv_id)
            assert state is not None
            e = d.for_key(s, state.priority_key)
        assert e.answer_by is not None  # every brand has hours
        due = hours.add_working(d.h, now, self.targets[brand_id])
        assert due is not None
        old = legacy_answer_by(d.h, now, d.waiting, d.samples, self.targets[brand_id])
        return Quote(
            brand_id, now, minutes(now, e.answer_by), minutes(now, quarter(due)),
            minutes(now, old), e.open_now,
        )  # fmt: skip

    def wake(self, brand_id: int, now: datetime) -> None:
        """A new post: the brand's idle agents look at the inbox again."""
        idle, self.idle[brand_id] = self.idle[brand_id], set()
        for i in sorted(idle):
            self.pick(i, now)

    # ---------------------------------------------------------------- agents

    def pick(self, i: int, now: datetime) -> None:
        """Agent ``i`` takes the top waiting conversation nobody holds, or waits."""
        agent = self.agents[i]
        h = self.hours[agent.brand_id]
        if not hours.is_open(h, now):
            back = hours.next_open(h, now)
            assert back is not None
            self.push(back, "agent", i)
            return
        query = InboxQuery(brand_ids=[agent.brand_id], statuses=[], limit=len(self.agents) + 1)
        with transaction(self.engine) as s:
            rows = inbox_page(s, query, now)
        for row in rows:
            if row.waiting_since is not None and row.id not in self.held:
                self.held.add(row.id)
                self.first_pick.setdefault(row.id, now)
                agent.holds = row.id
                took = SERVICE_MEDIAN * math.exp(self.rng.gauss(0.0, self.sigma))
                self.push(now + timedelta(minutes=took), "answer", i)
                return
        self.idle[agent.brand_id].add(i)

    def answer(self, i: int, now: datetime) -> None:
        """Agent ``i``'s reply, stored as the outbound worker stores a sent reply."""
        agent = self.agents[i]
        conv_id, agent.holds = agent.holds, None
        assert conv_id is not None
        self.held.discard(conv_id)
        self.answers += 1
        with transaction(self.engine) as s:
            conv = s.get(Conversation, conv_id)
            brand = s.get(Brand, agent.brand_id)
            target = engagement_repo.target_post(s, conv_id)
            assert conv is not None and brand is not None and target is not None
            identity = engagement_repo.brand_identity(s, brand, target.network)
            post = {
                "network": target.network,
                "external_id": f"eta-answer-{self.answers}",
                "identity_id": identity.id,
                "text": "Sorry about this! A teammate is looking into it now. ^JS",
                "created_at": now,
                "url": None,
                "reply_to_external_id": target.external_id,
                "from_brand": True,
            }
            engagement_repo.add_posts_to_conversations(s, [(conv, post)])
            conversations_repo.refresh_states(s, [conv_id])
        self.first_answer.setdefault(conv_id, now)


def replay(replay: Replay, workdir: Path) -> Outcome:
    """Run the replay on a fresh SQLite database under ``workdir``."""
    since = START + timedelta(hours=replay.warmup_h)
    until = since + timedelta(hours=replay.measured_h)
    # Customers keep writing after the measured stretch, until its conversations are
    # answered: the first morning after a night is at most a day and a half away.
    posts = customer_posts(until + timedelta(hours=36), replay.share)
    engine = make_engine(f"sqlite:///{workdir / 'eta.db'}")
    try:
        upgrade(engine)
        desk = Desk(engine, replay.share, replay.sigma)
        for n, post in enumerate(posts):
            desk.push(post.created_at, "post", n)
        for i in range(len(desk.agents)):
            desk.push(START, "agent", i)
        quotes: dict[int, Quote] = {}
        seen: set[int] = set()
        replayed = 0
        while desk.events:
            now, _, kind, data = heapq.heappop(desk.events)
            if kind == "post":
                if now >= until and all(conv in desk.first_answer for conv in quotes):
                    break
                replayed += 1
                touched = desk.arrive(posts[data])
                for brand_id, conv in touched:
                    if conv not in seen:
                        seen.add(conv)
                        if since <= now < until:
                            quotes[conv] = desk.quote(brand_id, conv, now)
                for brand_id in sorted({b for b, _ in touched}):
                    desk.wake(brand_id, now)
            elif kind == "agent":
                desk.pick(data, now)
            else:
                desk.answer(data, now)
                desk.pick(data, now)
        for conv, q in quotes.items():
            answered = desk.first_answer.get(conv)
            if answered is not None:
                q.actual = minutes(q.at, answered)
                q.picked = minutes(q.at, desk.first_pick[conv])
        agents = {slug: sum(a.brand_id == bid for a in desk.agents)
                  for slug, bid in desk.brand_ids.items()}  # fmt: skip
        return Outcome(
            [q for q in quotes.values() if q.actual is not None],
            replayed,
            desk.answers,
            sum(q.actual is None for q in quotes.values()),
            slugs={bid: slug for slug, bid in desk.brand_ids.items()},
            agents=agents,
        )
    finally:
        engine.dispose()


def relative(value: float, actual: float) -> float:
    """|value - actual| / actual, in per cent (an answer is never instant: a service
    time is at least seconds)."""
    return 100.0 * abs(value - actual) / max(actual, 1e-9)


def figures(outcome: Outcome, size: Size, variant: str | None = None) -> list[Figure]:
    """The suite's figures from a finished replay; a ``variant`` (a harder replay than the
    target's) names its figures after it and is scored against no target."""
    quotes = outcome.quotes
    if not quotes:
        return []
    rss = peak_rss_mb()
    actual: Callable[[Quote], float] = lambda q: q.actual or 0.0  # noqa: E731

    def stat(
        name: str,
        unit: str,
        of: Callable[[Quote, float], float],
        q: float,
        subset: list[Quote],
        target: str | None = None,
        passed: Callable[[float], bool] | None = None,
    ) -> Figure:
        value = percentile([of(x, x.published) for x in subset], q)
        base = percentile([of(x, x.old) for x in subset], q)
        return Figure(
            suite=SUITE,
            name=name,
            value=value,
            unit=unit,
            baseline=base,
            target=target,
            n=len(subset),
            higher_is_better=False,
            peak_rss_mb=rss,
            passed=passed(value) if passed else None,
            # baseline / value, which a perfect forecast (0) would divide by zero
            paired_ratio=math.inf if value == 0 and base else None,
        )

    def err(x: Quote, v: float) -> float:
        return 60.0 * abs(v - actual(x))

    def rel(x: Quote, v: float) -> float:
        return relative(v, actual(x))

    def alone(name: str, values: list[float]) -> Figure:
        return Figure(suite=SUITE, name=name, value=percentile(values, 90), unit="%",
                      n=len(values), higher_is_better=False, peak_rss_mb=rss)  # fmt: skip

    open_now = [x for x in quotes if x.open_now]
    closed = [x for x in quotes if not x.open_now]
    where = f"{len(quotes)} first posts, {SIZES[size].measured_h:g} h of demo traffic"
    if variant:
        where = f"{variant}; {where}"
    out = [
        stat(f"median |published - actual| ({where})", "s", err, 50, quotes),
        stat("p90 |published - actual|", "s", err, 90, quotes),
        stat("median |published - actual| / actual", "%", rel, 50, quotes),
        stat(
            "p90 |published - actual| / actual",
            "%",
            rel,
            90,
            quotes,
            target=None if variant else f"<= {TARGET:g} %",
            passed=None if variant else lambda v: v <= TARGET,
        ),
    ]
    for subset, label in ((open_now, "written in service hours"), (closed, "out of hours")):
        if subset:
            out.append(stat(f"p90 relative error, {label}", "%", rel, 90, subset))
    kept = Figure(
        suite=SUITE,
        name="answered by the published time",
        value=100.0 * sum(actual(x) <= x.published for x in quotes) / len(quotes),
        unit="%",
        baseline=100.0 * sum(actual(x) <= x.old for x in quotes) / len(quotes),
        n=len(quotes),
        peak_rss_mb=rss,
    )
    naive = [relative(x.naive, actual(x)) for x in quotes]
    oracle = [relative(x.oracle, actual(x)) for x in quotes]
    picked = [relative(x.picked + SERVICE_MEDIAN, actual(x)) for x in quotes]
    figures = [
        *out,
        kept,
        alone("p90 relative error of quoting the 60-minute target in service hours", naive),
        alone("floor: p90 relative error of the actual time rounded up to the minute", oracle),
        alone(KNOWS_PICK, picked),
    ]
    if variant:  # one table holds both replays: the first figure names the variant
        for f in figures[1:]:
            f.name = f"{f.name} ({variant})"
    return figures


@contextmanager
def _workdir() -> Iterator[Path]:
    from bench.outbound import _memory_dir

    with tempfile.TemporaryDirectory(dir=_memory_dir(room=256 << 20)) as tmp:
        yield Path(tmp)


def run(size: Size = "default") -> list[Figure]:
    """The replay the target is for (agents at the measured rate), then the same desk with
    handling times that vary, scored the same way."""
    out: list[Figure] = []
    for sigma, variant in ((0.0, None), (VARIED_SIGMA, VARIED)):
        with _workdir() as workdir:
            outcome = replay(replace(SIZES[size], sigma=sigma), workdir)
        out += figures(outcome, size, variant)
    return out
