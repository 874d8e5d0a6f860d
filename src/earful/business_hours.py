"""A brand's service hours as a calendar: which moments are staffed, and when a number of
staffed minutes has passed. Pure and domain-free, so the inbox's due times
(``conversations``) and the honest expected wait (``engagement.hours``) share it.

A brand's hours are ``{"mon": [["09:00", "17:00"]], ...}`` in its time zone (a missing
day is closed; no hours at all means always staffed). Holidays are local dates on which
the team is away whatever the weekday says (an always-staffed brand is then open all day
every other date).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from earful.errors import BadInput

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(slots=True, frozen=True)
class Hours:
    tz: ZoneInfo
    days: Mapping[str, Sequence[tuple[time, time | None]]]  # None end: midnight
    closed: frozenset[date] = field(default_factory=frozenset)  # holidays, local dates

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


def parse(timezone: str, hours: Mapping[str, Any] | None, holidays: Iterable[date] = ()) -> Hours:
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
    closed = frozenset(holidays)
    if closed and not days:  # always staffed, but for the holidays
        days = {d: [(time(0), None)] for d in DAYS}
    return Hours(tz, days, closed)


def _spans(h: Hours, day: datetime) -> list[tuple[datetime, datetime]]:
    """The open spans of ``day``'s local date, as aware datetimes."""
    local = day.astimezone(h.tz).date()
    if local in h.closed:
        return []
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
    # Each holiday ahead can push the next opening a day further (a year at most).
    days += min(366, sum(1 for d in h.closed if d >= since.date() - timedelta(days=1)))
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
