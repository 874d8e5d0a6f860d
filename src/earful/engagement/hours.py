"""Service hours and an honest expected response time. Pure: every function takes ``now``.

A brand's hours are ``{"mon": [["09:00", "17:00"]], ...}`` in its time zone (a missing
day is closed; no hours at all means always staffed). Time "at work" is counted only
inside those hours, so a complaint at 23:00 on Friday with a 40-minute expected wait is
answered by 09:40 on Monday, and we say so.

The expected wait is the larger of

* what we *measured*: the 80th percentile of recent first-response times, counted in
  working minutes (a weekend does not make us look slow, nor fast);
* what the *backlog* implies: conversations waiting now divided by the rate at which the
  team answered recently (answers per working minute, over the staffed time those answers
  cover; in a quiet fortnight that rate is below capacity, so this errs late, never early);

and the brand's target response time when there is nothing measured yet. The promise is
rounded *up* to the next quarter hour: an acknowledgement never promises sooner than
the evidence says.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from earful.errors import BadInput

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
STEP = timedelta(minutes=15)


@dataclass(slots=True, frozen=True)
class Hours:
    tz: ZoneInfo
    days: Mapping[str, Sequence[tuple[time, time | None]]]  # None end: midnight

    @property
    def always(self) -> bool:
        return not self.days


def _clock(value: str, where: str) -> time | None:
    if value in ("24:00", "24:00:00"):
        return None
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise BadInput(f"{where}: {value!r} is not a time like 09:00") from None


def parse(timezone: str, hours: Mapping[str, Any] | None) -> Hours:
    """Validated hours; :class:`BadInput` says which day and value is wrong."""
    try:
        tz = ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise BadInput(f"{timezone!r} is not a time zone like Europe/Paris") from None
    days: dict[str, list[tuple[time, time | None]]] = {}
    for day, spans in (hours or {}).items():
        if day not in DAYS:
            raise BadInput(f"service hours: {day!r} is not one of {', '.join(DAYS)}")
        for span in spans or []:
            if len(span) != 2:
                raise BadInput(f"service hours on {day}: give [start, end] pairs")
            start = _clock(str(span[0]), day) or time(0)
            end = _clock(str(span[1]), day)
            if end is not None and end <= start:
                raise BadInput(f"service hours on {day}: {span[0]}-{span[1]} ends before it starts")
            days.setdefault(day, []).append((start, end))
    for spans in days.values():
        spans.sort(key=lambda s: s[0])
    return Hours(tz, days)


def _spans(h: Hours, day: datetime) -> list[tuple[datetime, datetime]]:
    """The open spans of ``day``'s local date, as aware datetimes."""
    local = day.astimezone(h.tz).date()
    out = []
    for start, end in h.days.get(DAYS[local.weekday()], []):
        a = datetime.combine(local, start, h.tz)
        b = (
            datetime.combine(local + timedelta(days=1), time(0), h.tz)
            if end is None
            else datetime.combine(local, end, h.tz)
        )
        out.append((a.astimezone(UTC), b.astimezone(UTC)))
    return out


def _open_spans(h: Hours, since: datetime, days: int = 9) -> list[tuple[datetime, datetime]]:
    spans = []
    for i in range(-1, days):
        spans += _spans(h, since + timedelta(days=i))
    return sorted(s for s in spans if s[1] > since)


def is_open(h: Hours, at: datetime) -> bool:
    return h.always or any(a <= at < b for a, b in _open_spans(h, at, 1))


def next_open(h: Hours, at: datetime) -> datetime | None:
    """``at`` when open, else when the team is next in (None: no hours in a week)."""
    if h.always:
        return at
    for a, _ in _open_spans(h, at):
        return max(a, at)
    return None


def week_spans(h: Hours, at: datetime) -> list[tuple[datetime, datetime]]:
    """The open spans of the seven days from ``at``'s local date, as aware UTC datetimes."""
    return [s for i in range(7) for s in _spans(h, at + timedelta(days=i))]


def add_working(h: Hours, start: datetime, minutes: float) -> datetime | None:
    """The moment ``minutes`` of staffed time have passed since ``start``."""
    if h.always:
        return start + timedelta(minutes=minutes)
    left = timedelta(minutes=minutes)
    cursor = start
    for _ in range(60):  # up to 60 weeks of hours: a long backlog, not a loop
        spans = _open_spans(h, cursor)
        if not spans:
            return None
        for a, b in spans:
            a = max(a, cursor)
            if b - a >= left:
                return a + left
            left -= b - a
            cursor = b
    return None


def working_minutes(h: Hours, start: datetime, end: datetime) -> float:
    """Staffed minutes between two moments (all minutes when always staffed)."""
    if end <= start:
        return 0.0
    if h.always:
        return (end - start).total_seconds() / 60
    total = 0.0
    day = start
    while day < end + timedelta(days=1):
        for a, b in _spans(h, day):
            lo, hi = max(a, start), min(b, end)
            if hi > lo:
                total += (hi - lo).total_seconds() / 60
        day += timedelta(days=1)
    return total


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = (len(ordered) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


@dataclass(slots=True, frozen=True)
class Expectation:
    open_now: bool
    waiting: int
    measured_minutes: float | None  # p80 of recent first responses, working minutes
    backlog_minutes: float | None  # waiting / answers per working minute
    wait_minutes: float  # the larger, or the target when nothing is measured
    answer_by: datetime | None  # rounded up to the quarter hour; None: no hours at all
    basis: str  # what the promise rests on, for the agent (never sent to the customer)


def _ceil(at: datetime) -> datetime:
    base = at.replace(second=0, microsecond=0)
    extra = (base.minute % 15 and 15 - base.minute % 15) or 0
    rounded = base + timedelta(minutes=extra)
    return rounded if rounded >= at else rounded + STEP


def expect(
    h: Hours,
    now: datetime,
    *,
    waiting: int,
    samples: Sequence[tuple[datetime, datetime]],
    target_minutes: int,
    window: timedelta = timedelta(days=14),
) -> Expectation:
    """When a person will answer a customer who writes ``now``."""
    recent = [(a, b) for a, b in samples if b >= now - window and b <= now]
    durations = [working_minutes(h, a, b) for a, b in recent]
    measured = percentile(durations, 0.8) if len(durations) >= 5 else None
    # The answers are counted over the staffed time they cover: from the window's start,
    # or from the first post of the oldest sample when that is later (a desk younger than
    # the window, or a busy one whose samples were cut at the repository's limit). Over
    # the whole window, a desk one day old divided a day's answers by a fortnight's hours.
    covered = max(now - window, min((a for a, _ in recent), default=now - window))
    staffed = working_minutes(h, covered, now)
    rate = len(recent) / staffed if staffed > 0 and len(recent) >= 5 else None
    backlog = waiting / rate if rate else None
    candidates = [m for m in (measured, backlog) if m is not None]
    wait = max(candidates) if candidates else float(target_minutes)
    basis = (
        f"p80 of {len(durations)} recent first responses: {measured:.0f} working min"
        if measured is not None
        else f"no measurement yet: the target of {target_minutes} min"
    )
    if backlog is not None and rate is not None:
        per_hour = rate * 60
        basis += f"; {waiting} waiting, {per_hour:.1f} answers per staffed hour: {backlog:.0f} min"
    due = add_working(h, now, wait)
    return Expectation(
        open_now=is_open(h, now),
        waiting=waiting,
        measured_minutes=measured,
        backlog_minutes=backlog,
        wait_minutes=wait,
        answer_by=_ceil(due) if due else None,
        basis=basis,
    )


def should_acknowledge(auto_ack: bool, ack_backlog: int, e: Expectation) -> bool:
    """Outside hours, or when the queue is at least ``ack_backlog`` long (0: never)."""
    if not auto_ack:
        return False
    return not e.open_now or (ack_backlog > 0 and e.waiting >= ack_backlog)


DEFAULT_ACK = {
    "closed": "Thanks for reaching out! Our team is away right now. A person will answer "
    "you by {when}.",
    "busy": "Thanks for reaching out! We're busier than usual. A person will answer you by {when}.",
}


def when_text(h: Hours, at: datetime, now: datetime) -> str:
    local, today = at.astimezone(h.tz), now.astimezone(h.tz).date()
    clock = local.strftime("%H:%M")
    zone = local.tzname() or str(h.tz)
    if local.date() == today:
        return f"{clock} {zone} today"
    if local.date() == today + timedelta(days=1):
        return f"{clock} {zone} tomorrow"
    return f"{clock} {zone} on {local.strftime('%A %-d %B')}"


def ack_text(h: Hours, e: Expectation, now: datetime, template: str | None = None) -> str | None:
    """The acknowledgement, or None when no honest time can be given (no hours at all)."""
    if e.answer_by is None:
        return None
    when = when_text(h, e.answer_by, now)
    text = template or DEFAULT_ACK["busy" if e.open_now else "closed"]
    return text.replace("{when}", when)
