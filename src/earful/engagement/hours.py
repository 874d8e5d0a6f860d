"""Service hours and an honest expected response time. Pure: every function takes ``now``.

A brand's hours are ``{"mon": [["09:00", "17:00"]], ...}`` in its time zone (a missing
day is closed; no hours at all means always staffed). Holidays are local dates on which
the team is away whatever the weekday says (an always-staffed brand is then open all day
every other date). Time "at work" is counted only
inside those hours, so a complaint at 23:00 on Friday with a 40-minute expected wait is
answered by 09:40 on Monday, and we say so.

The expected wait models the queue (:func:`expect`): the conversations the inbox puts
before this customer (priority first), drained at the pace the team was measured to
answer while it had work, plus one handling time (the median answer time of customers
who found nobody waiting), counted in working minutes from now, or from the next
opening out of hours. With fewer than five measurements the brand's target is the
promise. Conversations that will arrive while this one waits and be due sooner (an
urgent complaint after a calm question) are put before it too: ``overtaken`` says how many
to expect, from the brand's measured arrivals per priority. The moment is rounded *up* to
the minute: never sooner than the estimate.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

# The calendar itself lives in a domain-free module; these names are part of this one's API.
from earful.business_hours import DAYS as DAYS
from earful.business_hours import Hours as Hours
from earful.business_hours import _open_spans
from earful.business_hours import add_working as add_working
from earful.business_hours import is_open as is_open
from earful.business_hours import next_open as next_open
from earful.business_hours import parse as parse
from earful.business_hours import week_spans as week_spans
from earful.business_hours import working_minutes as working_minutes

MIN_SAMPLES = 5  # fewer measurements than this: the brand's target is the promise


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
    waiting: int  # conversations of the brand waiting now
    ahead: int  # of those, the ones the inbox puts before this customer
    handling_minutes: float | None  # one answer's time when nobody else waits
    rate_per_minute: float | None  # answers per busy staffed minute
    wait_minutes: float  # working minutes from now to the answer
    answer_by: datetime | None  # rounded up to the minute; None: no hours at all
    basis: str  # what the promise rests on, for the agent (never sent to the customer)


MAX_ROUNDS = 10  # of the fixed point between the wait and those who overtake it


def _ceil(at: datetime) -> datetime:
    """Up to the next whole minute: a promise is never sooner than the estimate."""
    base = at.replace(second=0, microsecond=0)
    return base if base == at else base + timedelta(minutes=1)


def handling_minutes(h: Hours, samples: Sequence[tuple[datetime, datetime]]) -> float | None:
    """The median working time of the answers to customers who wrote, in hours, while no
    other conversation was waiting: an agent's handling time with no queue in front."""
    found_idle: list[float] = []
    busy_until: datetime | None = None  # the latest answer of those who wrote earlier
    for a, b in sorted(samples):
        if (busy_until is None or busy_until <= a) and is_open(h, a):
            found_idle.append(working_minutes(h, a, b))
        busy_until = b if busy_until is None else max(busy_until, b)
    return percentile(found_idle, 0.5) if len(found_idle) >= MIN_SAMPLES else None


def _staffed(h: Hours, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The staffed spans between two moments, clipped to them, in order."""
    if h.always:
        return [(start, end)]
    days = (end - start).days + 2
    spans = _open_spans(h, start, days)
    return [(max(a, start), min(b, end)) for a, b in spans if a < end]


def _busy_stretches(
    h: Hours, samples: Sequence[tuple[datetime, datetime]], answers: Sequence[datetime]
) -> list[tuple[float, int, int]]:
    """(staffed minutes, answers given, conversations waiting) of each stretch of staffed
    time in which the number of conversations waiting for a first answer was constant
    and above zero."""
    if not samples:
        return []
    events = sorted([(a, 1) for a, _ in samples] + [(b, -1) for _, b in samples])
    ordered = sorted(answers)
    out: list[tuple[float, int, int]] = []
    staffed = _staffed(h, events[0][0], events[-1][0])
    depth, i = 0, 0
    for (t0, step), (t1, _) in pairwise(events):
        depth += step
        if depth <= 0 or t1 <= t0:
            continue
        while i < len(staffed) and staffed[i][1] <= t0:
            i += 1
        j = i
        while j < len(staffed) and staffed[j][0] < t1:
            lo, hi = max(staffed[j][0], t0), min(staffed[j][1], t1)
            if hi > lo:
                done = bisect.bisect_right(ordered, hi) - bisect.bisect_right(ordered, lo)
                out.append(((hi - lo).total_seconds() / 60, done, depth))
            j += 1
    return out


def answer_rate(
    h: Hours,
    samples: Sequence[tuple[datetime, datetime]],
    answers: Sequence[datetime],
    handling: float | None = None,
) -> float | None:
    """Answers per staffed minute while every hand was busy: the pace at which a queue
    drains. Idle time is left out (a quiet morning must not make a busy team look slow),
    and so is time when fewer were waiting than the team has hands (one customer at a
    time shows one agent's pace, not the team's). The number of hands is the pace times
    the handling time; it is found by raising the bar until the pace stops growing."""
    stretches = _busy_stretches(h, samples, answers)

    def pace(depth: int) -> float | None:
        busy = sum(m for m, _, d in stretches if d >= depth)
        done = sum(n for _, n, d in stretches if d >= depth)
        return done / busy if busy > 0 and done >= MIN_SAMPLES else None

    rate = pace(1)
    for _ in range(5 if rate is not None and handling is not None else 0):
        assert rate is not None and handling is not None
        faster = pace(math.floor(rate * handling) + 1)
        if faster is None or faster <= rate:
            break
        rate = faster
    return rate


def expect(
    h: Hours,
    now: datetime,
    *,
    waiting: int,
    samples: Sequence[tuple[datetime, datetime]],
    target_minutes: int,
    ahead: int | None = None,
    answers: Sequence[datetime] | None = None,
    window: timedelta = timedelta(days=14),
    overtaken: Callable[[datetime], float] | None = None,
) -> Expectation:
    """When a person will answer a customer who writes ``now`` with ``ahead`` waiting
    conversations before them in the inbox's order (all ``waiting`` when not given).

    The queue in front drains at the measured pace; the team's free hands (pace times
    handling time) take the first ones at once; then this customer's own answer takes
    one handling time. Out of hours the clock starts when the team is back. Answers are
    the brand's posts (``answers``; the samples' first answers when not given).
    ``overtaken(t)``: how many conversations are expected to arrive from now to ``t``
    and be put before this one.
    """
    recent = [(a, b) for a, b in samples if now - window <= b <= now]
    stamps = [b for _, b in recent] if answers is None else answers
    done = [t for t in stamps if now - window <= t <= now]
    before = waiting if ahead is None else ahead
    handling = handling_minutes(h, recent)
    rate = answer_rate(h, recent, done, handling)
    if rate is not None:
        # Without a handling time (every answer found a queue: a team that is never
        # idle) the pace alone: this customer's answer is one more at that pace.
        own = handling if handling is not None else 0.0
        hands = rate * own  # agents at work when busy (Little's law)
        # Those who will be put before it depend on when it is taken, which depends on
        # them: a few rounds settle it (the count only grows, and by less each round).
        later = 0.0
        for _ in range(MAX_ROUNDS):
            wait = max(0.0, before + later + 1 - hands) / rate + own
            if overtaken is None:
                break
            taken = add_working(h, now, wait - own)
            more = overtaken(taken) if taken is not None else later
            if abs(more - later) < 0.1:
                break
            later = more
        basis = (
            "; ".join(
                [
                    f"{before} of the {waiting} waiting come first"
                    + (f", and ~{later:.0f} more due sooner should arrive" if later >= 0.5 else ""),
                    f"the team answers {rate * 60:.1f} an hour when busy",
                    f"one answer takes {handling:.0f} min"
                    if handling is not None
                    else "time per answer not measured yet (no answer found the queue empty)",
                ]
            )
            + f": {wait:.0f} working min"
        )
    else:
        wait = float(target_minutes)
        basis = f"{waiting} waiting; no measurement yet: the target of {target_minutes} min"
    # The queue waits in working time; an answer begun before closing is finished.
    start = add_working(h, now, wait - handling) if handling is not None else None
    if start is not None and handling is not None and is_open(h, start):
        due: datetime | None = start + timedelta(minutes=handling)
    else:
        due = add_working(h, now, wait)
    return Expectation(
        open_now=is_open(h, now),
        waiting=waiting,
        ahead=before,
        handling_minutes=handling,
        rate_per_minute=rate,
        wait_minutes=wait,
        answer_by=_ceil(due) if due else None,
        basis=basis,
    )


def last_arrival_before(
    h: Hours, since: datetime, until: datetime, due: datetime, target_minutes: float
) -> datetime:
    """The latest moment in [``since``, ``until``] at which a conversation with a
    ``target_minutes`` target would still be due before ``due`` (``since`` when none
    would): those arriving until then are put before it."""
    if until <= since or working_minutes(h, since, due) <= target_minutes:
        return since
    if working_minutes(h, until, due) > target_minutes:
        return until
    lo, hi = since, until
    while hi - lo > timedelta(seconds=30):  # working time only shrinks as t grows
        mid = lo + (hi - lo) / 2
        if working_minutes(h, mid, due) > target_minutes:
            lo = mid
        else:
            hi = mid
    return lo


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
