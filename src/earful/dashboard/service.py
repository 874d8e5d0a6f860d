"""Dashboard figures of one brand over a window of days. Never commits."""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from earful.alerts import repository as alerts_repo
from earful.alerts.schemas import alert_out
from earful.auth.service import Principal
from earful.brands.service import access_brand
from earful.csat import service as csat
from earful.dashboard import repository as repo
from earful.dashboard.schemas import (
    INTENTS,
    SENTIMENTS,
    AgentLoad,
    BrandRef,
    Chart,
    DashboardOut,
    IntentShare,
    ResponseTimes,
    VolumeDay,
)
from earful.models.base import utcnow

PERCENTILES = (50, 75, 90, 95, 99)


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of already sorted values (None when there are none)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def window(days: int, now: datetime) -> tuple[datetime, datetime]:
    """From the start of the UTC day ``days - 1`` days ago up to now."""
    start = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days - 1)
    return start, now


def volume(
    rows: Iterable[tuple[str, str | None, int]], since: datetime, days: int
) -> list[VolumeDay]:
    by_day: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for day, sentiment, n in rows:
        key = sentiment if sentiment in SENTIMENTS else "unlabelled"
        by_day[day][key] += n
    out = []
    for i in range(days):
        day = (since + timedelta(days=i)).strftime("%Y-%m-%d")
        counts = by_day.get(day, {})
        out.append(
            VolumeDay(
                day=day,
                total=sum(counts.values()),
                negative=counts.get("negative", 0),
                neutral=counts.get("neutral", 0),
                positive=counts.get("positive", 0),
                unlabelled=counts.get("unlabelled", 0),
            )
        )
    return out


def intent_shares(rows: Iterable[tuple[str | None, int]]) -> list[IntentShare]:
    counts: dict[str, int] = defaultdict(int)
    for intent, n in rows:
        counts[
            intent if intent in (*INTENTS, "other") else ("other" if intent else "unlabelled")
        ] += n
    total = sum(counts.values())
    order = [*INTENTS, "other", "unlabelled"]
    return [
        IntentShare(
            intent=k,
            posts=counts.get(k, 0),
            share=round(counts.get(k, 0) / total, 4) if total else 0.0,
        )
        for k in order
        if k in INTENTS or counts.get(k)
    ]


def response_times(
    pairs: Iterable[tuple[datetime, datetime | None]],
    target_minutes: int,
    now: datetime,
) -> ResponseTimes:
    waits: list[float] = []
    pending = overdue = 0
    for posted, answered in pairs:
        if answered is not None:
            waits.append((answered - posted).total_seconds() / 60)
        elif (now - posted).total_seconds() / 60 > target_minutes:
            overdue += 1
        else:
            pending += 1
    waits.sort()
    within = sum(1 for w in waits if w <= target_minutes)
    judged = len(waits) + overdue

    def pct(p: int) -> float | None:
        v = percentile(waits, p)
        return None if v is None else round(v, 1)

    return ResponseTimes(
        target_minutes=target_minutes,
        answered=len(waits),
        pending=pending,
        overdue_unanswered=overdue,
        p50_minutes=pct(50),
        p75_minutes=pct(75),
        p90_minutes=pct(90),
        p95_minutes=pct(95),
        p99_minutes=pct(99),
        within_target=within,
        within_target_pct=round(100 * within / judged, 1) if judged else None,
    )


def dashboard(
    session: Session, principal: Principal, slug: str, days: int = 30, now: datetime | None = None
) -> DashboardOut:
    brand = access_brand(session, principal, slug)
    now = now or utcnow()
    since, until = window(days, now)
    members = repo.members(session, brand.id)
    load = repo.open_assigned(session, brand.id)
    written = repo.replies_by_author(session, brand.id, since, until)
    known = {uid for uid, _, _ in members}
    return DashboardOut(
        brand=BrandRef(
            slug=brand.slug, name=brand.name, target_response_minutes=brand.target_response_minutes
        ),
        since=since,
        until=until,
        days=days,
        volume=volume(repo.volume_by_day(session, brand.id, since, until), since, days),
        intents=intent_shares(repo.intents(session, brand.id, since, until)),
        response=response_times(
            repo.response_pairs(session, brand.id, since, until),
            brand.target_response_minutes,
            now,
        ),
        agents=[
            AgentLoad(
                user_id=uid,
                name=name,
                role=role,
                open_assigned=load.get(uid, 0),
                replies=written.get(uid, 0),
            )
            for uid, name, role in members
        ]
        + [
            # Former members still holding conversations or replies in the window.
            AgentLoad(
                user_id=uid,
                name=f"user {uid}",
                role="former",
                open_assigned=load.get(uid, 0),
                replies=written.get(uid, 0),
            )
            for uid in sorted((set(load) | set(written)) - known)
        ],
        alerts=[alert_out(r) for r in alerts_repo.open_alerts(session, [brand.id], 50)],
        csat=csat.figures(session, brand, since, until, {uid: n for uid, n, _ in members}),
    )


def _cell(value: object) -> object:
    """Neutralise spreadsheet formulas in text cells (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def to_csv(data: DashboardOut, chart: Chart) -> str:
    """The numbers behind one chart, as CSV with a header row."""
    rows: list[Sequence[object]]
    if chart == "volume":
        rows = [("day", "total", "negative", "neutral", "positive", "unlabelled")]
        rows += [
            (d.day, d.total, d.negative, d.neutral, d.positive, d.unlabelled) for d in data.volume
        ]
    elif chart == "intents":
        rows = [("intent", "posts", "share")]
        rows += [(i.intent, i.posts, i.share) for i in data.intents]
    elif chart == "response":
        r = data.response
        rows = [("metric", "value")]
        rows += [(k, v) for k, v in r.model_dump().items()]
    elif chart == "agents":
        rows = [("user_id", "name", "role", "open_assigned", "replies")]
        rows += [(a.user_id, a.name, a.role, a.open_assigned, a.replies) for a in data.agents]
    elif chart == "csat":
        rows = [("scope", "key", "name", "sent", "answered", "average", "satisfied_pct",
                 "response_pct")]  # fmt: skip
        c = data.csat
        rows += [
            (x.scope, x.key, x.name, x.sent, x.answered, x.average, x.satisfied_pct,
             x.response_pct)
            for x in [c.brand, *c.agents, *c.networks]
        ]  # fmt: skip
    else:
        rows = [("id", "opened_at", "title")]
        rows += [
            (a.id, a.opened_at.isoformat() if a.opened_at else "", a.title) for a in data.alerts
        ]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return buf.getvalue()
